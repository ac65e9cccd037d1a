/* SPDX-License-Identifier: GPL-2.0 */
/* Maps of redirect_profile.bpf.c, shared by the BPF program and its C++ reader.
 */
#ifndef LPMON_BPF_REDIRECT_PROFILE_H
#define LPMON_BPF_REDIRECT_PROFILE_H

/* Address ranges the samples are classified by, sorted by start, not
 * overlapping. */
#define LPMON_PROFILE_MAX_RANGES 2048
/* Patched functions and replacement functions, each an index into the counts.
 */
#define LPMON_PROFILE_MAX_TARGETS 512
/* Frames walked per sample, innermost first. */
#define LPMON_PROFILE_STACK_DEPTH 24

enum lpmon_profile_range_kind {
	/* klp_ftrace_handler, ftrace's entry code and trampolines, its list
	   function */
	LPMON_PROFILE_REDIRECT = 1,
	/* a patched function (the original, whose ftrace call redirects it) */
	LPMON_PROFILE_PATCHED = 2,
	/* a function of a patch module: a replacement, or a helper of one */
	LPMON_PROFILE_REPLACEMENT = 3,
};

struct lpmon_profile_range {
	__u64 start; /* first byte */
	__u64 end; /* past the last byte */
	__u32 kind; /* enum lpmon_profile_range_kind */
	__u32 target; /* index into the counts (PATCHED, REPLACEMENT) */
};

/* One per CPU. */
struct lpmon_profile_totals {
	__u64 samples; /* every sample taken */
	__u64 kernel; /* of which the CPU was in the kernel */
	__u64 redirect; /* of which redirection code was on the stack below a
			   patched function */
	__u64 redirect_unattributed; /* redirection code, no patched function
					found above */
	__u64 stack_errors; /* kernel samples whose stack could not be read */
};

/* One per CPU and target. */
struct lpmon_profile_counts {
	__u64 redirect; /* PATCHED: samples in redirecting this function */
	__u64 self; /* REPLACEMENT: samples in the function itself */
	__u64 inclusive; /* REPLACEMENT: samples in it or in what it called */
};

#endif /* LPMON_BPF_REDIRECT_PROFILE_H */
