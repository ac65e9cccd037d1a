#include <linux/sched/signal.h>

#include "lpmon_target.h"

/* Same wait, but a fatal signal ends it (-EINTR) instead of leaving an
 * unkillable task. */
static int wait_released_killable(struct lpmon_target_park_state *park)
{
	long seen = atomic_long_read(&park->generation);
	int ret;

	atomic_inc(&park->parked);
	ret = wait_event_killable(park->wq,
				  atomic_long_read(&park->generation) != seen);
	atomic_dec(&park->parked);
	return ret ? -EINTR : 0;
}
