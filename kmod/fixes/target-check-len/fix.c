#include "lpmon_target.h"

static int check_len_fixed(size_t len)
{
	return len <= LPMON_TARGET_RECORD_SIZE ? 0 : -EINVAL;
}
