/* SPDX-License-Identifier: GPL-2.0 */
/* Counters of patched_calls.bpf.c, shared by the BPF program and its C++
 * reader. */
#ifndef LPMON_BPF_PATCHED_CALLS_H
#define LPMON_BPF_PATCHED_CALLS_H

/*
 * Log2 latency slots: slot 0 counts [0, 2) ns, slot i >= 1 counts
 * [2^i, 2^(i+1)) ns, and the last slot everything from 2^31 ns (2.1 s) up:
 * a function that sleeps can take that long.
 */
#define LPMON_CALLS_SLOTS 32

/*
 * Calls in flight at once, per observed function: the entry time is kept per
 * task until the call returns. A call that finds the table full is counted but
 * not timed.
 */
#define LPMON_CALLS_IN_FLIGHT 4096

/* One per CPU and observed function; user space sums the CPUs. */
struct lpmon_calls_stats {
	__u64 calls; /* entries seen */
	__u64 timed; /* returns matched with their entry */
	__u64 total_ns; /* sum of the timed calls' durations */
	__u64 slots[LPMON_CALLS_SLOTS]; /* durations of the timed calls */
	__u64 until_sample; /* calls left until the next timed one */
};

#endif /* LPMON_BPF_PATCHED_CALLS_H */
