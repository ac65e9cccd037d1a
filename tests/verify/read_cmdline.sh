# A user workload for lpmon verify --workload (verify.warn): 20 reads of /proc/cmdline, each
# one call of cmdline_proc_show. $1, the file of patched functions, is not needed here.
i=0
while [ $i -lt 20 ]; do
	cat /proc/cmdline >/dev/null
	i=$((i + 1))
done
