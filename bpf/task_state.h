/* SPDX-License-Identifier: GPL-2.0 */
/* Records of task_state.bpf.c, shared by the BPF program and its C++ reader. */
#ifndef LPMON_BPF_TASK_STATE_H
#define LPMON_BPF_TASK_STATE_H

#define LPMON_TASK_STATE_COMM_LEN 16 /* TASK_COMM_LEN */
#define LPMON_TASK_STATE_STACK_DEPTH 32

/* task_struct->patch_state: klp's values, and ours for kernels without it. */
enum lpmon_task_patch_state {
	LPMON_TASK_PATCH_IDLE = -1, /* KLP_UNDEFINED: no transition */
	LPMON_TASK_PATCH_UNPATCHED = 0,
	LPMON_TASK_PATCH_PATCHED = 1,
};

/* lpmon_task_state_record.flags */
#define LPMON_TASK_STATE_KTHREAD 0x1

/* One task whose patch_state differs from the scan's target, as written to
 * the iterator's seq_file. */
struct lpmon_task_state_record {
	__u32 pid; /* the task's own id (a thread id) */
	__u32 tgid;
	__s32 patch_state; /* enum lpmon_task_patch_state */
	__u32 flags; /* LPMON_TASK_STATE_* */
	/* frames in stack, or the negative errno of bpf_get_task_stack */
	__s32 stack_frames;
	char comm[LPMON_TASK_STATE_COMM_LEN];
	/* on a CPU as it was read: its stack is a moving snapshot */
	__u32 on_cpu;
	__u64 stack[LPMON_TASK_STATE_STACK_DEPTH]; /* innermost first */
};

#endif
