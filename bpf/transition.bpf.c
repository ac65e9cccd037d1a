// SPDX-License-Identifier: GPL-2.0
/*
 * Traces livepatch transitions. The kernel has no livepatch tracepoints, so
 * this hooks the klp transition functions with fentry
 * (kernel/livepatch/transition.c). klp_mutex serialises transitions, so one
 * global slot holds the one in flight.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "transition.h"

char LICENSE[] SEC("license") = "GPL";

struct transition_in_flight {
	__u64 start_ns;
	__u32 target_state;
	__u32 rounds;
	__u32 result; /* what END reports unless it completes normally */
	char patch[LPMON_PATCH_NAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct transition_in_flight);
} in_flight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} transition_events SEC(".maps");

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
	e->timestamp_ns = now;
	e->duration_ns = kind == LPMON_TRANSITION_END ? now - t->start_ns : 0;
	e->kind = kind;
	e->target_state = t->target_state;
	e->result = result;
	e->rounds = t->rounds;
	__builtin_memcpy(e->patch, t->patch, sizeof(e->patch));
	bpf_ringbuf_submit(e, 0);
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
	BPF_CORE_READ_STR_INTO(&t->patch, patch, mod, name);
	emit(t, LPMON_TRANSITION_START, LPMON_RESULT_NONE, now);
	return 0;
}

SEC("fentry/klp_try_complete_transition")
int BPF_PROG(klp_try_complete_transition)
{
	struct transition_in_flight *t = current_transition();

	if (t)
		t->rounds++;
	return 0;
}

SEC("fentry/klp_reverse_transition")
int BPF_PROG(klp_reverse_transition)
{
	struct transition_in_flight *t = current_transition();

	if (!t)
		return 0;
	t->target_state = !t->target_state;
	t->result = LPMON_RESULT_REVERSED;
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
	struct transition_in_flight *t = current_transition();

	if (t)
		t->result = LPMON_RESULT_FORCED;
	return 0;
}

SEC("fentry/klp_complete_transition")
int BPF_PROG(klp_complete_transition)
{
	struct transition_in_flight *t = current_transition();

	if (!t || !t->start_ns)
		return 0; /* began before the tracer attached */
	emit(t, LPMON_TRANSITION_END, t->result, bpf_ktime_get_ns());
	t->start_ns = 0;
	return 0;
}
