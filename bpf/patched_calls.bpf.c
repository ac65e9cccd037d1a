// SPDX-License-Identifier: GPL-2.0
/*
 * Counts the calls of one patched function and keeps a log2 histogram of
 * their durations, aggregated here rather than streamed per call. User space
 * loads one copy per function and attaches the entry program alone (counting
 * only: no clock read, no map but the per-CPU counters), or a pair:
 * kprobe/kretprobe, or fentry/fexit, timing every call or 1 call in N.
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

/*
 * Time 1 call in this many on each CPU (1: every call); 0: count only (then
 * user space attaches no exit program). Set between open and load.
 */
const volatile __u32 sample_every = 1;

/*
 * Start times stored and not yet taken out, on all CPUs: while it is 0 the
 * exit program returns before its hash lookup, so the calls that are not
 * timed cost a load and a compare there.
 */
__u64 in_flight = 0;

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
	__u64 key, now;

	if (!s)
		return;
	s->calls++;
	if (sample_every == 0)
		return;
	if (sample_every > 1) {
		/* A countdown, not calls % N: no division on the hot path. */
		if (s->until_sample > 1) {
			s->until_sample--;
			return;
		}
		s->until_sample = sample_every;
	}
	key = task_key();
	now = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&starts, &key, &now, BPF_ANY) == 0)
		__sync_fetch_and_add(&in_flight, 1);
}

static __always_inline void on_exit(void)
{
	__u64 now, key = task_key();
	struct lpmon_calls_stats *s;
	__u64 *start, delta;

	if (sample_every > 1 && !in_flight)
		return;
	now = bpf_ktime_get_ns();
	start = bpf_map_lookup_elem(&starts, &key);
	if (!start)
		return; /* entered before the exit program attached, or not
			   sampled */
	delta = now - *start;
	if (bpf_map_delete_elem(&starts, &key) == 0)
		__sync_fetch_and_add(&in_flight, -1);
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
