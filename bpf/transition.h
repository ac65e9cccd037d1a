/* SPDX-License-Identifier: GPL-2.0 */
/* Events of transition.bpf.c, shared by the BPF program and its C++ reader. */
#ifndef LPMON_BPF_TRANSITION_H
#define LPMON_BPF_TRANSITION_H

#define LPMON_PATCH_NAME_LEN                                                   \
	56 /* MODULE_NAME_LEN: a patch is named after its module */
#define LPMON_COMM_LEN 16 /* TASK_COMM_LEN */
/* klp_func->old_name; KSYM_NAME_LEN is 512 in 6.1, real names are far shorter.
 */
#define LPMON_FUNC_NAME_LEN 128
/* Kernel stack frames kept per blocked task (klp itself checks up to 100). */
#define LPMON_STACK_DEPTH 32
/*
 * New blocked-task records per klp round. Each is about 0.5 KiB: 256 of them
 * fill a quarter of the ring buffer, so a round's summary still fits when
 * thousands of tasks block at once. Tasks over the cap are reported in later
 * rounds.
 */
#define LPMON_TASK_REPORTS_PER_ROUND 256

/* All records share one ring buffer, in the order the kernel made them, and
 * start with their type. */
enum lpmon_event_type {
	LPMON_EVENT_TRANSITION = 1,
	LPMON_EVENT_ROUND = 2, /* a klp round that left tasks unswitched */
	LPMON_EVENT_TASK_BLOCKED = 3,
};

enum lpmon_transition_kind {
	LPMON_TRANSITION_START = 1, /* klp_init_transition */
	LPMON_TRANSITION_REVERSE =
		2, /* klp_reverse_transition: direction flips */
	LPMON_TRANSITION_END = 3, /* klp_complete_transition */
	/* First sight of a transition that began before the tracer attached. */
	LPMON_TRANSITION_IN_PROGRESS = 4,
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

/* lpmon_transition_event.flags */
/* Began before the tracer attached: no START was seen, duration_ns counts
 * from the IN_PROGRESS event and rounds from then on. */
#define LPMON_TRANSITION_ADOPTED 0x1

struct lpmon_transition_event {
	__u32 type; /* LPMON_EVENT_TRANSITION */
	__u32 kind; /* enum lpmon_transition_kind */
	__u64 timestamp_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 duration_ns; /* END: since START */
	__u32 target_state; /* enum lpmon_target_state, after any reversal */
	__u32 result; /* enum lpmon_transition_result */
	__u32 rounds; /* klp_try_complete_transition calls so far */
	__u32 flags; /* LPMON_TRANSITION_* */
	/* END: tasks that switched themselves at cond_resched() (klp does that
	 * from 6.4 on), outside klp's rounds; always 0 on earlier kernels */
	__u32 switched_at_cond_resched;
	__u32 reserved; /* 0; keeps the record free of padding */
	char patch[LPMON_PATCH_NAME_LEN];
};

/* Why klp_check_and_switch_task() (6.1) refused to switch a task. */
enum lpmon_block_reason {
	LPMON_BLOCK_RUNNING = 1, /* -EBUSY: running on another CPU */
	LPMON_BLOCK_UNRELIABLE_STACK = 2, /* -EINVAL */
	/* -EADDRINUSE: a to-be-(un)patched function is on its stack */
	LPMON_BLOCK_SLEEPING_IN_FUNCTION = 3,
	LPMON_BLOCK_OTHER = 4, /* another error: see error */
};

/* lpmon_task_blocked_event.flags */
#define LPMON_TASK_KTHREAD 0x1

/*
 * A task that failed to switch, sent the first time it fails for a reason
 * within a transition's direction; lpmon_round_event counts every failure.
 */
struct lpmon_task_blocked_event {
	__u32 type; /* LPMON_EVENT_TASK_BLOCKED */
	__u32 reason; /* enum lpmon_block_reason */
	__u64 timestamp_ns;
	__u32 pid; /* the task's own id (a thread id) */
	__u32 tgid;
	__u32 round;
	__u32 target_state;
	__s32 error; /* what klp_check_and_switch_task() returned */
	/* frames in stack, or the negative errno of bpf_get_task_stack; 0 for
	 * running tasks, whose stack changes as it is read */
	__s32 stack_frames;
	__u32 flags; /* LPMON_TASK_* */
	__u32 task_state; /* task->__state: TASK_* bits (0: running) */
	char comm[LPMON_COMM_LEN];
	char function[LPMON_FUNC_NAME_LEN]; /* SLEEPING_IN_FUNCTION: which */
	char patch[LPMON_PATCH_NAME_LEN];
	__u64 stack[LPMON_STACK_DEPTH]; /* return addresses, innermost first */
};

/* Sent at the end of each klp round that left tasks unswitched. */
struct lpmon_round_event {
	__u32 type; /* LPMON_EVENT_ROUND */
	__u32 round;
	__u64 timestamp_ns;
	__u32 target_state;
	__u32 transition_flags; /* LPMON_TRANSITION_* */
	__u32 switched; /* tasks switched in this round */
	__u32 blocked; /* tasks that failed to switch in this round */
	__u32 running;
	__u32 unreliable_stack;
	__u32 sleeping_in_function;
	__u32 other;
	__u32 reported; /* task_blocked records sent in this round */
	/* blocked tasks due a record that got none (per-round cap, full ring
	 * buffer): they are reported in a later round */
	__u32 unreported;
	char patch[LPMON_PATCH_NAME_LEN];
};

#endif
