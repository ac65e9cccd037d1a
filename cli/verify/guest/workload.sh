# lpmon verify's default workload (busybox sh, in the guest): calls the functions a patch
# replaces where lpmon knows a way to reach them, then a generic syscall and file-system
# stress for what it does not. $1 is a file of object:function lines (lpmon inspect's).
# `lpmon verify --workload SCRIPT` runs SCRIPT in its place, with the same argument.
# Prints "exercised OBJECT:FUNCTION" or "generic OBJECT:FUNCTION" per function.

target=/sys/kernel/debug/lpmon_target

repeat() {
	local n=$1 i=0
	shift
	while [ $i -lt "$n" ]; do
		"$@"
		i=$((i + 1))
	done
}

# One exerciser per function lpmon can reach: vmlinux functions through the syscall or file
# that runs them, lpmon_target's (kmod/target) through its debugfs files. Returns 1 for
# functions it has none for.
exercise() {
	case "$1" in
	vmlinux:cmdline_proc_show) repeat 50 cat /proc/cmdline >/dev/null ;;
	vmlinux:version_proc_show) repeat 50 cat /proc/version >/dev/null ;;
	vmlinux:meminfo_proc_show) repeat 20 cat /proc/meminfo >/dev/null ;;
	lpmon_target:lpmon_target_check_len)
		echo "check_len 1000" >$target/call_loop
		repeat 5 sh -c "echo 64 >$target/check_len" 2>/dev/null
		;;
	lpmon_target:lpmon_target_parse_flags)
		echo "parse_flags 1000" >$target/call_loop
		repeat 5 sh -c "echo 1 >$target/parse_flags" 2>/dev/null
		;;
	lpmon_target:lpmon_target_session_use)
		# a fixed session_use allows a few uses per session: errors are expected
		for s in 0 1 2 3; do repeat 2 sh -c "echo $s >$target/session_use" 2>/dev/null; done
		;;
	lpmon_target:lpmon_target_wait_released)
		# a reader of park sleeps in wait_released until the release
		cat $target/park >/dev/null &
		local reader=$! i=0
		while [ "$(cat $target/parked)" -lt 1 ] && [ $i -lt 100 ]; do
			usleep 20000
			i=$((i + 1))
		done
		echo release >$target/park
		wait $reader
		;;
	*) return 1 ;;
	esac
}

# System calls and file-system operations a broad set of kernel functions sits under.
generic_stress() {
	local dir=/tmp/lpmon-verify-stress i=0
	mkdir -p $dir
	while [ $i -lt 40 ]; do
		echo "record $i" >$dir/f$i
		cat $dir/f$i >/dev/null
		mv $dir/f$i $dir/g$i
		ln -s g$i $dir/l$i
		readlink $dir/l$i >/dev/null
		stat $dir/g$i >/dev/null
		rm -f $dir/g$i $dir/l$i
		i=$((i + 1))
	done
	dd if=/dev/zero of=$dir/big bs=64k count=32 2>/dev/null
	sync
	md5sum $dir/big >/dev/null
	rm -rf $dir
	cat /proc/[0-9]*/stat /proc/cmdline /proc/version /proc/meminfo /proc/loadavg >/dev/null 2>&1
	ls -R /sys/kernel/livepatch /proc/self >/dev/null 2>&1
	repeat 10 sh -c true
}

while IFS= read -r f; do
	[ -n "$f" ] || continue
	if exercise "$f"; then echo "exercised $f"; else echo "generic $f"; fi
done <"$1"
generic_stress
