// SPDX-License-Identifier: GPL-2.0
/*
 * Per-task livepatch state in one pass over every task (iter/task): counts
 * per task_struct->patch_state, and a record with the kernel stack for each
 * task not at target_state. Kernels without CONFIG_LIVEPATCH have no
 * patch_state: the CO-RE existence check below makes the object load there
 * anyway, counting every task as idle.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "task_state.h"

char LICENSE[] SEC("license") = "GPL";

#define PF_KTHREAD 0x00200000

/* Set by user space before each pass. */
int target_state = LPMON_TASK_PATCH_PATCHED;

/* Results of a pass, zeroed by user space before it. */
bool have_patch_state;
__u64 idle;
__u64 unpatched;
__u64 patched;
__u64 other; /* a patch_state klp does not define */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lpmon_task_state_record);
} scratch SEC(".maps");

static __always_inline void count(int state)
{
	switch (state) {
	case LPMON_TASK_PATCH_IDLE:
		idle++;
		break;
	case LPMON_TASK_PATCH_UNPATCHED:
		unpatched++;
		break;
	case LPMON_TASK_PATCH_PATCHED:
		patched++;
		break;
	default:
		other++;
	}
}

SEC("iter/task")
int scan_tasks(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct lpmon_task_state_record *r;
	int state = LPMON_TASK_PATCH_IDLE;
	__u32 zero = 0;
	long bytes;

	if (!task)
		return 0; /* end of the pass */
	have_patch_state = bpf_core_field_exists(task->patch_state);
	if (bpf_core_field_exists(task->patch_state))
		state = BPF_CORE_READ(task, patch_state);
	if (state == target_state) {
		count(state);
		return 0;
	}
	r = bpf_map_lookup_elem(&scratch, &zero);
	if (!r)
		return 0;
	r->pid = task->pid;
	r->tgid = task->tgid;
	r->patch_state = state;
	r->flags = task->flags & PF_KTHREAD ? LPMON_TASK_STATE_KTHREAD : 0;
	/* task_struct->on_cpu exists on SMP kernels only. */
	r->on_cpu = bpf_core_field_exists(task->on_cpu)
			    ? BPF_CORE_READ(task, on_cpu)
			    : 0;
	BPF_CORE_READ_STR_INTO(&r->comm, task, comm);
	bytes = bpf_get_task_stack(task, r->stack, sizeof(r->stack), 0);
	r->stack_frames = bytes < 0 ? bytes : bytes / sizeof(r->stack[0]);
	/*
	 * When the seq_file buffer is full, the kernel drops this task's
	 * output and runs the program on it again in the next read(): count
	 * it only once its record is in.
	 */
	if (bpf_seq_write(seq, r, sizeof(*r)))
		return 0;
	count(state);
	return 0;
}
