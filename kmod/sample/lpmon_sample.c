// SPDX-License-Identifier: GPL-2.0
/*
 * lpmon_sample: the smallest useful livepatch, in the style of the kernel's
 * samples/livepatch/livepatch-sample.c. It replaces cmdline_proc_show() so that
 * /proc/cmdline shows a marker: a test can tell the patched world from the
 * unpatched one by reading a file.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>

#define LPMON_SAMPLE_MARKER "lpmon_sample: this kernel is live patched"

static int lpmon_sample_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s\n", LPMON_SAMPLE_MARKER);
	return 0;
}

static struct klp_func funcs[] = {
	{
		.old_name = "cmdline_proc_show",
		.new_func = lpmon_sample_cmdline_proc_show,
	},
	{}
};

static struct klp_object objs[] = {
	{
		/* name NULL: the object is vmlinux */
		.funcs = funcs,
	},
	{}
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int lpmon_sample_init(void)
{
	return klp_enable_patch(&patch);
}

static void lpmon_sample_exit(void)
{
}

module_init(lpmon_sample_init);
module_exit(lpmon_sample_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lpmon sample livepatch: replaces cmdline_proc_show");
MODULE_INFO(livepatch, "Y");
