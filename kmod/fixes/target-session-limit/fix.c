#include "lpmon_target.h"

/*
 * The fix needs a use counter that struct lpmon_target_session does not have: a
 * klp shadow variable adds it without changing the struct's layout.
 */
#define SESSION_USES_ID LPMON_SHADOW_ID(1)

static int session_use_limited(struct lpmon_target_session *session)
{
	unsigned int *uses;

	uses = klp_shadow_get_or_alloc(session, SESSION_USES_ID, sizeof(*uses),
				       GFP_KERNEL, NULL, NULL);
	if (!uses)
		return -ENOMEM;
	if (*uses >= LPMON_TARGET_SESSION_LIMIT)
		return -EDQUOT;
	(*uses)++;
	return 0;
}

/* Unpatched code knows nothing of the counters: free them all once it runs
 * again. */
static void session_limit_post_unpatch(struct klp_object *obj)
{
	klp_shadow_free_all(SESSION_USES_ID, NULL);
}
