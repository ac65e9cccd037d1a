// SPDX-License-Identifier: GPL-2.0
/*
 * Traces livepatch transitions and the tasks that hold them up. The kernel
 * has no livepatch tracepoints, so this hooks the klp transition functions
 * with fentry and return probes (kernel/livepatch/transition.c). klp_mutex
 * serialises transitions and their rounds, so one global slot holds the one in
 * flight and its round's counters.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "transition.h"

char LICENSE[] SEC("license") = "GPL";

#define EBUSY 16
#define EINVAL 22
#define EADDRINUSE 98
#define PF_KTHREAD 0x00200000

/* Set while a transition is in flight; typeless, so present with kallsyms
 * only (CONFIG_KALLSYMS_ALL), hence weak. */
extern const void klp_transition_patch __ksym __weak;

struct transition_in_flight {
	__u64 start_ns; /* 0: none in flight */
	__u32 target_state;
	__u32 rounds;
	__u32 result; /* what END reports unless it completes normally */
	__u32 flags; /* LPMON_TRANSITION_* */
	/* Bumped whenever the direction is new: a task is reported once per
	 * reason and generation. */
	__u32 generation;
	/* Tasks that switched themselves at cond_resched (6.4+). */
	__u32 switched_at_cond_resched;
	/* The task running the round under way (klp_mutex held); 0 between
	 * rounds. */
	__u64 round_task;
	/* The round under way, zeroed as it starts. */
	__u32 switched;
	__u32 blocked;
	__u32 by_reason[LPMON_BLOCK_OTHER + 1];
	__u32 reported;
	__u32 unreported;
	char patch[LPMON_PATCH_NAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct transition_in_flight);
} in_flight SEC(".maps");

struct reported_task {
	__u32 generation;
	__u32 reasons; /* bit per enum lpmon_block_reason */
};

/*
 * Which reasons a task was already reported for, keyed by task_struct
 * address (every CPU's idle task has pid 0). LRU: entries of finished
 * transitions age out; when more tasks block than it holds, an evicted
 * task is reported again, still within the per-round cap.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct reported_task);
} reported SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 512 * 1024);
} transition_events SEC(".maps");

/* 5.14 renamed task_struct->state to __state (commit 2f064a59a11f). */
struct task_struct___pre_5_14 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline __u32 task_state(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return BPF_CORE_READ((struct task_struct___pre_5_14 *)task, state);
}

static __always_inline struct transition_in_flight *current_transition(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&in_flight, &zero);
}

static __always_inline void emit(struct transition_in_flight *t, __u32 kind,
				 __u32 result, __u64 now)
{
	struct lpmon_transition_event *e;

	e = bpf_ringbuf_reserve(&transition_events, sizeof(*e), 0);
	if (!e)
		return;
	e->type = LPMON_EVENT_TRANSITION;
	e->kind = kind;
	e->timestamp_ns = now;
	e->duration_ns = kind == LPMON_TRANSITION_END ? now - t->start_ns : 0;
	e->target_state = t->target_state;
	e->result = result;
	e->rounds = t->rounds;
	e->flags = t->flags;
	e->switched_at_cond_resched = t->switched_at_cond_resched;
	e->reserved = 0;
	__builtin_memcpy(e->patch, t->patch, sizeof(e->patch));
	bpf_ringbuf_submit(e, 0);
}

/*
 * The transition in flight, taking over one that began before the tracer
 * attached (a stuck transition is when one starts tracing); NULL when none
 * is, or it cannot be read.
 */
static __always_inline struct transition_in_flight *known_transition(void)
{
	struct transition_in_flight *t = current_transition();
	struct klp_patch *patch = NULL;
	__u64 now;

	if (!t || t->start_ns)
		return t;
	if (!&klp_transition_patch)
		return NULL;
	bpf_probe_read_kernel(&patch, sizeof(patch), &klp_transition_patch);
	if (!patch)
		return NULL;
	now = bpf_ktime_get_ns();
	t->start_ns = now;
	/* 6.1 sets patch->enabled to the target before the first round and
	 * flips both on reversal. */
	t->target_state = BPF_CORE_READ(patch, enabled);
	t->rounds = 0;
	t->result = LPMON_RESULT_COMPLETE;
	t->flags = LPMON_TRANSITION_ADOPTED;
	t->switched_at_cond_resched = 0;
	t->generation++;
	BPF_CORE_READ_STR_INTO(&t->patch, patch, mod, name);
	emit(t, LPMON_TRANSITION_IN_PROGRESS, LPMON_RESULT_NONE, now);
	return t;
}

SEC("fentry/klp_init_transition")
int BPF_PROG(klp_init_transition, struct klp_patch *patch, int state)
{
	struct transition_in_flight *t = current_transition();
	__u64 now = bpf_ktime_get_ns();

	if (!t)
		return 0;
	t->start_ns = now;
	t->target_state = state;
	t->rounds = 0;
	t->result = LPMON_RESULT_COMPLETE;
	t->flags = 0;
	t->switched_at_cond_resched = 0;
	t->generation++;
	BPF_CORE_READ_STR_INTO(&t->patch, patch, mod, name);
	emit(t, LPMON_TRANSITION_START, LPMON_RESULT_NONE, now);
	return 0;
}

SEC("fentry/klp_try_complete_transition")
int BPF_PROG(klp_try_complete_transition)
{
	struct transition_in_flight *t = known_transition();

	if (!t)
		return 0;
	t->rounds++;
	t->round_task = bpf_get_current_task();
	t->switched = 0;
	t->blocked = 0;
	__builtin_memset(t->by_reason, 0, sizeof(t->by_reason));
	t->reported = 0;
	t->unreported = 0;
	return 0;
}

/*
 * The per-task check, 6.1: klp_try_switch_task() runs
 * klp_check_and_switch_task(task, &old_name) through task_call_func() for each
 * task not yet switched, with the task pinned (pi_lock, and its runqueue lock
 * when queued) and interrupts off, so fentry and the return probe below run on
 * one CPU, back to back, and pass what fentry saw through a per-CPU slot.
 *
 * No fexit here or on any caller: a BPF trampoline frame has no ORC data, so
 * while it is on the stack of the task running the round, that task's own
 * reliable-stack check fails (-EINVAL) and it never switches: a reversal
 * driven by a kworker then stalls for as long as the tracer is attached. An
 * fentry trampoline is gone before the function body runs, and the unwinder
 * recovers a kretprobe's return address (unwind_recover_ret_addr).
 */
struct pending_check {
	__u64 task; /* the task_struct being checked; 0: none */
	__u64 old_name; /* where klp stores the function's name */
	__u32 pid;
	__u32 tgid;
	__u32 flags;
	__u32 task_state;
	__s32 stack_frames;
	__u32 at_cond_resched; /* the task checks itself, outside a round */
	char comm[LPMON_COMM_LEN];
	__u64 stack[LPMON_STACK_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pending_check);
} checks SEC(".maps");

SEC("fentry/klp_check_and_switch_task")
int BPF_PROG(klp_check_and_switch_task, struct task_struct *task,
	     const char **old_name)
{
	struct transition_in_flight *t = current_transition();
	struct pending_check *c;
	__u32 zero = 0;
	long bytes;

	c = bpf_map_lookup_elem(&checks, &zero);
	if (!t || !t->start_ns || !c)
		return 0;
	c->task = (__u64)task;
	c->old_name = (__u64)old_name;
	/*
	 * From 6.4 on a task also checks itself at cond_resched()
	 * (__klp_sched_try_switch), outside klp's rounds and without
	 * klp_mutex; in a round only the task running it checks itself.
	 */
	c->at_cond_resched = (__u64)task == bpf_get_current_task() &&
			     (__u64)task != t->round_task;
	c->pid = task->pid;
	c->tgid = task->tgid;
	c->flags = task->flags & PF_KTHREAD ? LPMON_TASK_KTHREAD : 0;
	c->task_state = task_state(task);
	BPF_CORE_READ_STR_INTO(&c->comm, task, comm);
	/* The outcome is not known yet: take the stack the check will see. */
	bytes = bpf_get_task_stack(task, c->stack, sizeof(c->stack), 0);
	c->stack_frames = bytes < 0 ? bytes : bytes / sizeof(c->stack[0]);
	return 0;
}

static __always_inline __u32 block_reason(int error)
{
	switch (error) {
	case -EBUSY:
		return LPMON_BLOCK_RUNNING;
	case -EINVAL:
		return LPMON_BLOCK_UNRELIABLE_STACK;
	case -EADDRINUSE:
		return LPMON_BLOCK_SLEEPING_IN_FUNCTION;
	default:
		return LPMON_BLOCK_OTHER;
	}
}

/* An int return: only the low 32 bits of the register are the value. */
SEC("kretprobe/klp_check_and_switch_task")
int BPF_KRETPROBE(klp_check_and_switch_task_exit, int ret)
{
	struct transition_in_flight *t = current_transition();
	struct lpmon_task_blocked_event *e;
	struct reported_task *seen, fresh = {};
	const char *name = NULL;
	struct pending_check *c;
	__u32 zero = 0, reason, bit;
	__u64 key;

	c = bpf_map_lookup_elem(&checks, &zero);
	if (!t || !t->start_ns || !c || !c->task)
		return 0;
	key = c->task;
	c->task = 0;
	/* Not part of a round: a switch is counted for the transition, a
	 * failure is not a blocked task (it runs and will try again). */
	if (c->at_cond_resched) {
		if (!ret)
			__sync_fetch_and_add(&t->switched_at_cond_resched, 1);
		return 0;
	}
	if (!ret) {
		t->switched++;
		return 0;
	}
	reason = block_reason(ret);
	bit = 1U << reason;
	t->blocked++;
	if (reason < sizeof(t->by_reason) / sizeof(t->by_reason[0]))
		t->by_reason[reason]++;

	seen = bpf_map_lookup_elem(&reported, &key);
	if (seen && seen->generation == t->generation) {
		if (seen->reasons & bit)
			return 0;
		fresh.reasons = seen->reasons;
	}
	if (t->reported >= LPMON_TASK_REPORTS_PER_ROUND) {
		t->unreported++;
		return 0;
	}
	e = bpf_ringbuf_reserve(&transition_events, sizeof(*e), 0);
	if (!e) {
		t->unreported++;
		return 0;
	}
	e->type = LPMON_EVENT_TASK_BLOCKED;
	e->reason = reason;
	e->timestamp_ns = bpf_ktime_get_ns();
	e->pid = c->pid;
	e->tgid = c->tgid;
	e->round = t->rounds;
	e->target_state = t->target_state;
	e->error = ret;
	e->flags = c->flags;
	e->task_state = c->task_state;
	__builtin_memcpy(e->comm, c->comm, sizeof(e->comm));
	e->function[0] = '\0';
	/* klp_try_switch_task()'s frame is live: old_name is still there. */
	if (reason == LPMON_BLOCK_SLEEPING_IN_FUNCTION &&
	    !bpf_probe_read_kernel(&name, sizeof(name), (void *)c->old_name) &&
	    name)
		bpf_probe_read_kernel_str(e->function, sizeof(e->function),
					  name);
	__builtin_memcpy(e->patch, t->patch, sizeof(e->patch));
	/* A running task's stack was moving as it was read. */
	e->stack_frames = reason == LPMON_BLOCK_RUNNING ? 0 : c->stack_frames;
	__builtin_memcpy(e->stack, c->stack, sizeof(e->stack));
	bpf_ringbuf_submit(e, 0);

	t->reported++;
	fresh.generation = t->generation;
	fresh.reasons |= bit;
	bpf_map_update_elem(&reported, &key, &fresh, BPF_ANY);
	return 0;
}

/* A round that did not complete the transition: its summary. One that did
 * ends with END, sent from klp_complete_transition within the round. A return
 * probe, not fexit: see klp_check_and_switch_task above. */
SEC("kretprobe/klp_try_complete_transition")
int BPF_KRETPROBE(klp_try_complete_transition_exit)
{
	struct transition_in_flight *t = current_transition();
	struct lpmon_round_event *e;

	if (t)
		t->round_task = 0;
	if (!t || !t->start_ns || !t->blocked)
		return 0;
	e = bpf_ringbuf_reserve(&transition_events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->type = LPMON_EVENT_ROUND;
	e->round = t->rounds;
	e->timestamp_ns = bpf_ktime_get_ns();
	e->target_state = t->target_state;
	e->transition_flags = t->flags;
	e->switched = t->switched;
	e->blocked = t->blocked;
	e->running = t->by_reason[LPMON_BLOCK_RUNNING];
	e->unreliable_stack = t->by_reason[LPMON_BLOCK_UNRELIABLE_STACK];
	e->sleeping_in_function =
		t->by_reason[LPMON_BLOCK_SLEEPING_IN_FUNCTION];
	e->other = t->by_reason[LPMON_BLOCK_OTHER];
	e->reported = t->reported;
	e->unreported = t->unreported;
	__builtin_memcpy(e->patch, t->patch, sizeof(e->patch));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("fentry/klp_reverse_transition")
int BPF_PROG(klp_reverse_transition)
{
	struct transition_in_flight *t = known_transition();

	if (!t)
		return 0;
	t->target_state = !t->target_state;
	t->result = LPMON_RESULT_REVERSED;
	t->generation++;
	emit(t, LPMON_TRANSITION_REVERSE, LPMON_RESULT_NONE,
	     bpf_ktime_get_ns());
	return 0;
}

/* Enabling failed after klp_init_transition (e.g. a pre-patch callback
 * refused). */
SEC("fentry/klp_cancel_transition")
int BPF_PROG(klp_cancel_transition)
{
	struct transition_in_flight *t = current_transition();

	if (t) {
		t->target_state = LPMON_TARGET_UNPATCHED;
		t->result = LPMON_RESULT_CANCELLED;
	}
	return 0;
}

SEC("fentry/klp_force_transition")
int BPF_PROG(klp_force_transition)
{
	struct transition_in_flight *t = known_transition();

	if (t)
		t->result = LPMON_RESULT_FORCED;
	return 0;
}

SEC("fentry/klp_complete_transition")
int BPF_PROG(klp_complete_transition)
{
	struct transition_in_flight *t = current_transition();

	if (!t || !t->start_ns)
		return 0; /* began before the tracer attached, never seen */
	emit(t, LPMON_TRANSITION_END, t->result, bpf_ktime_get_ns());
	t->start_ns = 0;
	return 0;
}
