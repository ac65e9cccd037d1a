/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lpmon_target: the contract shared by the target module and the fix code of
 * livepatch modules that patch it (klp object "lpmon_target"). Constants and
 * types only: including it creates no link dependency on the target.
 *
 * Patchable functions of the target (global, noinline, noipa; replace by name):
 *   int lpmon_target_check_len(size_t len);
 *   int lpmon_target_parse_flags(unsigned long flags);
 *   int lpmon_target_session_use(struct lpmon_target_session *session);
 *   int lpmon_target_wait_released(struct lpmon_target_park_state *park);
 */
#ifndef LPMON_TARGET_H
#define LPMON_TARGET_H

#include <linux/atomic.h>
#include <linux/types.h>
#include <linux/wait.h>

/* Largest valid record length for lpmon_target_check_len(). */
#define LPMON_TARGET_RECORD_SIZE 64

/* Flags lpmon_target_parse_flags() should accept; anything else is invalid. */
#define LPMON_TARGET_FLAGS_KNOWN 0x7UL

/* Sessions have ids 0..LPMON_TARGET_SESSIONS - 1. */
#define LPMON_TARGET_SESSIONS 4
/* Uses a fixed lpmon_target_session_use() allows per session (then -EDQUOT). */
#define LPMON_TARGET_SESSION_LIMIT 3

struct lpmon_target_session {
	int id;
};

/*
 * State of the park point, passed to lpmon_target_wait_released() so that a
 * replacement reaches it through its argument, with no klp relocation: a task
 * waits on @wq until @generation differs from the value it saw at entry, and is
 * counted in @parked meanwhile. A release increments @generation, then wakes
 * @wq.
 */
struct lpmon_target_park_state {
	wait_queue_head_t wq;
	atomic_long_t generation;
	atomic_t parked;
};

#endif /* LPMON_TARGET_H */
