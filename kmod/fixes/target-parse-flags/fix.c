#include "lpmon_target.h"

static int parse_flags_fixed(unsigned long flags)
{
	return flags & ~LPMON_TARGET_FLAGS_KNOWN ? -EINVAL : 0;
}
