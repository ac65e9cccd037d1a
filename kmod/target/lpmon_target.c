// SPDX-License-Identifier: GPL-2.0
/*
 * lpmon_target: "a buggy piece of the kernel" for tests and benchmarks. Its
 * global functions carry planted bugs that livepatches (klp object
 * "lpmon_target") fix by replacing them by name; debugfs files under
 * /sys/kernel/debug/lpmon_target/ call them, time them in a loop, and park
 * tasks inside one of them so a patch's transition stalls on purpose.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/debugfs.h>
#include <linux/err.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "lpmon_target.h"

#define LOOP_MAX_CALLS 100000000UL
#define LOOP_RESCHED_MASK 4095UL
#define PARK_MAX_KTHREADS 64U

/*
 * The patchable functions: global, and noipa on top of noinline so that gcc
 * neither inlines, clones (.constprop/.isra) nor propagates across them; a
 * livepatch replaces the symbol by name and must catch every call. Their
 * prototypes live here, not in the header, which stays link-free.
 */
int lpmon_target_check_len(size_t len);
int lpmon_target_parse_flags(unsigned long flags);
int lpmon_target_session_use(struct lpmon_target_session *session);
int lpmon_target_wait_released(struct lpmon_target_park_state *park);

static struct lpmon_target_park_state lpmon_target_park = {
	.wq = __WAIT_QUEUE_HEAD_INITIALIZER(lpmon_target_park.wq),
	.generation = ATOMIC_LONG_INIT(0),
	.parked = ATOMIC_INIT(0),
};

static struct lpmon_target_session sessions[LPMON_TARGET_SESSIONS] = {
	{ .id = 0 },
	{ .id = 1 },
	{ .id = 2 },
	{ .id = 3 },
};

/* Planted bug "CVE-2099-0001": off by one, accepts len == RECORD_SIZE + 1. */
noinline __attribute__((__noipa__)) int lpmon_target_check_len(size_t len)
{
	if (len > LPMON_TARGET_RECORD_SIZE + 1)
		return -EINVAL;
	return 0;
}

/* Planted bug "CVE-2099-0002": accepts flags outside FLAGS_KNOWN. */
noinline __attribute__((__noipa__)) int
lpmon_target_parse_flags(unsigned long flags)
{
	return 0;
}

/* Planted bug "CVE-2099-0003": no limit on the uses of a session. */
noinline __attribute__((__noipa__)) int
lpmon_target_session_use(struct lpmon_target_session *session)
{
	pr_debug("session %d used\n", session->id);
	return 0;
}

/*
 * Planted bug "CVE-2099-0004": the wait is unkillable. TASK_IDLE keeps it out
 * of the load average and of the hung-task detector, so tests may park tasks
 * here for as long as they like.
 */
noinline __attribute__((__noipa__)) int
lpmon_target_wait_released(struct lpmon_target_park_state *park)
{
	long seen = atomic_long_read(&park->generation);

	atomic_inc(&park->parked);
	wait_event_idle(park->wq, atomic_long_read(&park->generation) != seen);
	atomic_dec(&park->parked);
	return 0;
}

static void lpmon_target_release(void)
{
	atomic_long_inc(&lpmon_target_park.generation);
	wake_up_all(&lpmon_target_park.wq);
}

static struct dentry *debugfs_dir;

/* check_len, parse_flags, session_use: the write's result is the call's. */
static ssize_t check_len_write(struct file *file, const char __user *ubuf,
			       size_t count, loff_t *ppos)
{
	unsigned long len;
	int ret;

	ret = kstrtoul_from_user(ubuf, count, 10, &len);
	if (ret)
		return ret;
	ret = lpmon_target_check_len(len);
	return ret ? ret : count;
}

static ssize_t parse_flags_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	unsigned long flags;
	int ret;

	ret = kstrtoul_from_user(ubuf, count, 0, &flags);
	if (ret)
		return ret;
	ret = lpmon_target_parse_flags(flags);
	return ret ? ret : count;
}

static ssize_t session_use_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	unsigned int id;
	int ret;

	ret = kstrtouint_from_user(ubuf, count, 10, &id);
	if (ret)
		return ret;
	if (id >= LPMON_TARGET_SESSIONS)
		return -EINVAL;
	ret = lpmon_target_session_use(&sessions[id]);
	return ret ? ret : count;
}

static const struct file_operations check_len_fops = {
	.owner = THIS_MODULE,
	.write = check_len_write,
	.llseek = noop_llseek,
};

static const struct file_operations parse_flags_fops = {
	.owner = THIS_MODULE,
	.write = parse_flags_write,
	.llseek = noop_llseek,
};

static const struct file_operations session_use_fops = {
	.owner = THIS_MODULE,
	.write = session_use_write,
	.llseek = noop_llseek,
};

/*
 * Copy a short command from user space, NUL-terminated and trimmed, and split
 * it into a word and the (space-trimmed) rest, NULL when absent.
 */
static int read_command(const char __user *ubuf, size_t count, char *buf,
			size_t size, char **word, char **rest)
{
	char *p;

	if (count >= size)
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	p = strim(buf);
	*word = strsep(&p, " \t");
	*rest = p ? skip_spaces(p) : NULL;
	return 0;
}

/* call_loop: time N calls of one function; read shows the last run. */
static DEFINE_MUTEX(loop_lock);
static char loop_result[128];
static volatile int loop_sink;

static ssize_t call_loop_write(struct file *file, const char __user *ubuf,
			       size_t count, loff_t *ppos)
{
	char buf[64], *name, *arg;
	unsigned long n, i;
	u64 start, total_ns, hundredths, whole;
	u32 frac;
	bool use_check_len;
	int acc = 0, ret;

	ret = read_command(ubuf, count, buf, sizeof(buf), &name, &arg);
	if (ret)
		return ret;
	if (!strcmp(name, "check_len"))
		use_check_len = true;
	else if (!strcmp(name, "parse_flags"))
		use_check_len = false;
	else
		return -EINVAL;
	if (!arg || kstrtoul(arg, 10, &n) || n < 1 || n > LOOP_MAX_CALLS)
		return -EINVAL;

	if (mutex_lock_interruptible(&loop_lock))
		return -EINTR;
	start = ktime_get_ns();
	for (i = 0; i < n; i++) {
		/* Varying arguments that every version accepts. */
		size_t len = i % LPMON_TARGET_RECORD_SIZE;
		unsigned long flags = i & LPMON_TARGET_FLAGS_KNOWN;

		if (use_check_len)
			acc += lpmon_target_check_len(len);
		else
			acc += lpmon_target_parse_flags(flags);
		/* Long loops must neither lock up a CPU nor ignore a kill. */
		if ((i & LOOP_RESCHED_MASK) == LOOP_RESCHED_MASK) {
			cond_resched();
			if (fatal_signal_pending(current)) {
				mutex_unlock(&loop_lock);
				return -EINTR;
			}
		}
	}
	total_ns = ktime_get_ns() - start;
	loop_sink = acc;

	hundredths = div64_u64(total_ns * 100, n);
	whole = div_u64_rem(hundredths, 100, &frac);
	scnprintf(loop_result, sizeof(loop_result),
		  "function=%s calls=%lu total_ns=%llu ns_per_call=%llu.%02u\n",
		  name, n, total_ns, whole, frac);
	mutex_unlock(&loop_lock);
	return count;
}

static ssize_t call_loop_read(struct file *file, char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	ssize_t ret;

	if (mutex_lock_interruptible(&loop_lock))
		return -EINTR;
	ret = simple_read_from_buffer(ubuf, count, ppos, loop_result,
				      strlen(loop_result));
	mutex_unlock(&loop_lock);
	return ret;
}

static const struct file_operations call_loop_fops = {
	.owner = THIS_MODULE,
	.read = call_loop_read,
	.write = call_loop_write,
	.llseek = default_llseek,
};

/*
 * park: kthreads parked by "kthreads N" are tracked until they are reaped, so
 * that unload can wait for every one of them to leave this module's text.
 */
struct park_thread {
	struct list_head node;
	struct task_struct *task;
	struct completion done;
};

static DEFINE_MUTEX(threads_lock);
static LIST_HEAD(threads);

static int park_thread_fn(void *data)
{
	struct park_thread *t = data;

	lpmon_target_wait_released(&lpmon_target_park);
	complete(&t->done);
	return 0;
}

/* Stop (wait for the exit of) a thread that has left the park point. */
static void park_thread_reap(struct park_thread *t)
{
	kthread_stop(t->task);
	put_task_struct(t->task);
	list_del(&t->node);
	kfree(t);
}

static int park_spawn(unsigned int n)
{
	struct park_thread *t, *tmp;
	struct task_struct *task;
	unsigned int i;
	int ret = 0;

	mutex_lock(&threads_lock);
	/* .clang-format lacks ForEachMacros: keep the kernel layout by hand. */
	list_for_each_entry_safe(t, tmp, &threads, node)
		if (completion_done(&t->done))
			park_thread_reap(t);
	for (i = 0; i < n; i++) {
		t = kzalloc(sizeof(*t), GFP_KERNEL);
		if (!t) {
			ret = -ENOMEM;
			break;
		}
		init_completion(&t->done);
		task = kthread_create(park_thread_fn, t, "lpmon_park/%u", i);
		if (IS_ERR(task)) {
			kfree(t);
			ret = PTR_ERR(task);
			break;
		}
		/* kthread_stop() needs the task even after it exited. */
		get_task_struct(task);
		t->task = task;
		list_add_tail(&t->node, &threads);
		wake_up_process(task);
	}
	mutex_unlock(&threads_lock);
	return ret;
}

/* A blocking read parks the reader until the next release. */
static ssize_t park_read(struct file *file, char __user *ubuf, size_t count,
			 loff_t *ppos)
{
	static const char msg[] = "released\n";

	if (*ppos)
		return 0;
	lpmon_target_wait_released(&lpmon_target_park);
	return simple_read_from_buffer(ubuf, count, ppos, msg, sizeof(msg) - 1);
}

static ssize_t park_write(struct file *file, const char __user *ubuf,
			  size_t count, loff_t *ppos)
{
	char buf[32], *cmd, *arg;
	unsigned int n;
	int ret;

	ret = read_command(ubuf, count, buf, sizeof(buf), &cmd, &arg);
	if (ret)
		return ret;
	if (!strcmp(cmd, "release") && !arg) {
		lpmon_target_release();
		return count;
	}
	if (strcmp(cmd, "kthreads") || !arg || kstrtouint(arg, 10, &n) ||
	    n < 1 || n > PARK_MAX_KTHREADS)
		return -EINVAL;
	ret = park_spawn(n);
	return ret ? ret : count;
}

static const struct file_operations park_fops = {
	.owner = THIS_MODULE,
	.read = park_read,
	.write = park_write,
	.llseek = noop_llseek,
};

static int __init lpmon_target_init(void)
{
	debugfs_dir = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("check_len", 0200, debugfs_dir, NULL,
			    &check_len_fops);
	debugfs_create_file("parse_flags", 0200, debugfs_dir, NULL,
			    &parse_flags_fops);
	debugfs_create_file("session_use", 0200, debugfs_dir, NULL,
			    &session_use_fops);
	debugfs_create_file("call_loop", 0600, debugfs_dir, NULL,
			    &call_loop_fops);
	debugfs_create_file("park", 0600, debugfs_dir, NULL, &park_fops);
	debugfs_create_atomic_t("parked", 0444, debugfs_dir,
				&lpmon_target_park.parked);
	return 0;
}

/*
 * An open debugfs file pins the module (the debugfs proxy takes a reference
 * on fops->owner), so a user task parked in a read makes rmmod fail with
 * EAGAIN and we never get here with one. Kthreads pin nothing: release them
 * and wait until each has exited before the text goes away. A thread may
 * sample the generation only after a release, so keep releasing until it is
 * out. Only then remove debugfs, whose removal waits for active readers.
 */
static void __exit lpmon_target_exit(void)
{
	int parked = atomic_read(&lpmon_target_park.parked);
	struct park_thread *t;

	lpmon_target_release();
	mutex_lock(&threads_lock);
	while ((t = list_first_entry_or_null(&threads, struct park_thread,
					     node))) {
		while (!wait_for_completion_timeout(&t->done, HZ / 10))
			lpmon_target_release();
		park_thread_reap(t);
	}
	mutex_unlock(&threads_lock);
	debugfs_remove_recursive(debugfs_dir);
	if (parked)
		pr_info("released %d parked kthread(s) to unload\n", parked);
}

module_init(lpmon_target_init);
module_exit(lpmon_target_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lpmon target: planted bugs for livepatches to fix");
