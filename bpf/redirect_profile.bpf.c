// SPDX-License-Identifier: GPL-2.0
/*
 * Samples every CPU on the CPU clock (a perf_event per CPU, opened by user
 * space) and tells what the kernel was doing for livepatch's redirection:
 * each kernel sample's stack is walked from the innermost frame, and
 * - redirection code (klp_ftrace_handler, ftrace's entry and trampolines, its
 *   list function) below a patched function's own frame (the return address
 *   of its ftrace call) counts for that patched function;
 * - the innermost frame in a patch module's function counts as "self" for it,
 *   the innermost such function anywhere on the stack as "inclusive".
 * User space writes the address ranges (from /proc/kallsyms) and reads the
 * per-CPU counts; nothing is streamed per sample.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "redirect_profile.h"

char LICENSE[] SEC("license") = "GPL";

/* Ranges in use, written by user space through the mmapped .bss. */
__u32 nr_ranges = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LPMON_PROFILE_MAX_RANGES);
	__type(key, __u32);
	__type(value, struct lpmon_profile_range);
} ranges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lpmon_profile_totals);
} totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LPMON_PROFILE_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct lpmon_profile_counts);
} counts SEC(".maps");

struct stack {
	__u64 ips[LPMON_PROFILE_STACK_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stack);
} scratch SEC(".maps");

/* The range holding ip: a binary search, 12 steps at most (2048 ranges). */
static __always_inline struct lpmon_profile_range *find(__u64 ip, __u32 n)
{
	__u32 lo = 0,
	      hi = n < LPMON_PROFILE_MAX_RANGES ? n : LPMON_PROFILE_MAX_RANGES;

	for (int step = 0; step < 12 && lo < hi; step++) {
		__u32 mid = (lo + hi) / 2;
		struct lpmon_profile_range *r =
			bpf_map_lookup_elem(&ranges, &mid);

		if (!r)
			return NULL;
		if (ip < r->start)
			hi = mid;
		else if (ip >= r->end)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

static __always_inline struct lpmon_profile_counts *target(__u32 index)
{
	return bpf_map_lookup_elem(&counts, &index);
}

SEC("perf_event")
int profile_sample(struct bpf_perf_event_data *ctx)
{
	__u32 zero = 0, n = nr_ranges;
	struct lpmon_profile_totals *t = bpf_map_lookup_elem(&totals, &zero);
	struct stack *st = bpf_map_lookup_elem(&scratch, &zero);
	struct lpmon_profile_counts *c;
	bool in_redirect = false, attributed = false, replacement = false;
	long bytes;
	int frames;

	if (!t || !st)
		return 0;
	/* A program never nests in itself on one CPU: no atomics needed. */
	t->samples++;
	/*
	 * User mode: x86-64 user code runs in the lower half. Not cs & 3:
	 * since 6.9 (FRED) cs is a u16 in a union, CO-RE shrinks the load to 2
	 * bytes and the perf_event context refuses reads of less than 8.
	 */
	if ((__s64)ctx->regs.ip >= 0)
		return 0;
	t->kernel++;
	bytes = bpf_get_stack(ctx, st->ips, sizeof(st->ips), 0);
	if (bytes <= 0) {
		t->stack_errors++;
		return 0;
	}
	frames = bytes / sizeof(__u64);

	for (int i = 0; i < LPMON_PROFILE_STACK_DEPTH; i++) {
		struct lpmon_profile_range *r;

		if (i >= frames)
			break;
		r = find(st->ips[i], n);
		if (!r)
			continue;
		if (r->kind == LPMON_PROFILE_REDIRECT) {
			in_redirect = true;
		} else if (r->kind == LPMON_PROFILE_PATCHED) {
			/* The return address of the patched function's ftrace
			 * call. */
			if (in_redirect && !attributed) {
				attributed = true;
				c = target(r->target);
				if (c)
					c->redirect++;
			}
			in_redirect = false;
		} else if (r->kind == LPMON_PROFILE_REPLACEMENT &&
			   !replacement) {
			replacement = true;
			c = target(r->target);
			if (c) {
				if (i == 0)
					c->self++;
				c->inclusive++;
			}
		}
	}
	if (attributed)
		t->redirect++;
	else if (in_redirect)
		t->redirect_unattributed++;
	return 0;
}
