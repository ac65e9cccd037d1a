/* SPDX-License-Identifier: GPL-2.0 */
/* Events of transition.bpf.c, shared by the BPF program and its C++ reader. */
#ifndef LPMON_BPF_TRANSITION_H
#define LPMON_BPF_TRANSITION_H

#define LPMON_PATCH_NAME_LEN                                                   \
	56 /* MODULE_NAME_LEN: a patch is named after its module */

enum lpmon_transition_kind {
	LPMON_TRANSITION_START = 1, /* klp_init_transition */
	LPMON_TRANSITION_REVERSE =
		2, /* klp_reverse_transition: direction flips */
	LPMON_TRANSITION_END = 3, /* klp_complete_transition */
};

enum lpmon_transition_result {
	LPMON_RESULT_NONE = 0, /* START and REVERSE events */
	LPMON_RESULT_COMPLETE = 1,
	LPMON_RESULT_REVERSED = 2,
	LPMON_RESULT_CANCELLED =
		3, /* enabling failed before the transition started */
	LPMON_RESULT_FORCED = 4,
};

/* klp's own encoding of a transition's target state. */
enum lpmon_target_state {
	LPMON_TARGET_UNPATCHED = 0,
	LPMON_TARGET_PATCHED = 1,
};

struct lpmon_transition_event {
	__u64 timestamp_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 duration_ns; /* END: since START */
	__u32 kind; /* enum lpmon_transition_kind */
	__u32 target_state; /* enum lpmon_target_state, after any reversal */
	__u32 result; /* enum lpmon_transition_result */
	__u32 rounds; /* klp_try_complete_transition calls so far */
	char patch[LPMON_PATCH_NAME_LEN];
};

#endif
