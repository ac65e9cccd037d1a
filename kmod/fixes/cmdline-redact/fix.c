#include <linux/seq_file.h>

static int cmdline_redact_proc_show(struct seq_file *m, void *v)
{
	seq_puts(m, "[redacted by livepatch: CVE-2099-1001]\n");
	return 0;
}
