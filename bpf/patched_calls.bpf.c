// SPDX-License-Identifier: GPL-2.0
/*
 * Counts the calls of one patched function and keeps a log2 histogram of
 * their durations, aggregated here rather than streamed per call. User space
 * loads one copy per function and attaches one pair: kprobe/kretprobe, or
 * fentry/fexit.
 *
 * Both attach to the original function, which livepatch redirects through
 * ftrace; the probe runs alongside livepatch's ftrace handler (a trampoline
 * shares the function with it since 6.0 on x86), and the duration is that of
 * the replacement in force.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "patched_calls.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lpmon_calls_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LPMON_CALLS_IN_FLIGHT);
	__type(key, __u64);
	__type(value, __u64);
} starts SEC(".maps");

static __always_inline struct lpmon_calls_stats *cpu_stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&stats, &zero);
}

/* The idle tasks all have pid 0: those are told apart by CPU. */
static __always_inline __u64 task_key(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	return tid ? tid : (1ULL << 32) | bpf_get_smp_processor_id();
}

static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 slot = 0;

	/* Binary search over the bit positions: six fixed steps. */
#pragma unroll
	for (int shift = 32; shift > 0; shift >>= 1) {
		if (v >> shift) {
			v >>= shift;
			slot += shift;
		}
	}
	return slot < LPMON_CALLS_SLOTS ? slot : LPMON_CALLS_SLOTS - 1;
}

/*
 * A program never runs nested in itself on one CPU (the kernel counts such a
 * run as a miss instead), so the per-CPU counters need no atomics: entry and
 * exit programs update different fields.
 */
static __always_inline void on_entry(void)
{
	struct lpmon_calls_stats *s = cpu_stats();
	__u64 key = task_key();
	__u64 now = bpf_ktime_get_ns();

	if (!s)
		return;
	s->calls++;
	bpf_map_update_elem(&starts, &key, &now, BPF_ANY);
}

static __always_inline void on_exit(void)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 key = task_key();
	struct lpmon_calls_stats *s;
	__u64 *start, delta;

	start = bpf_map_lookup_elem(&starts, &key);
	if (!start)
		return; /* entered before the entry program attached */
	delta = now - *start;
	bpf_map_delete_elem(&starts, &key);
	s = cpu_stats();
	if (!s)
		return;
	s->timed++;
	s->total_ns += delta;
	s->slots[log2_slot(delta)]++;
}

SEC("fentry")
int BPF_PROG(calls_entry)
{
	on_entry();
	return 0;
}

SEC("fexit")
int BPF_PROG(calls_exit)
{
	on_exit();
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(calls_kprobe)
{
	on_entry();
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(calls_kretprobe)
{
	on_exit();
	return 0;
}
