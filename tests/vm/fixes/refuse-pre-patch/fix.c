#include <linux/seq_file.h>

static int refuse_cmdline_proc_show(struct seq_file* m, void* v) {
  seq_puts(m, "refuse-pre-patch: must never be seen\n");
  return 0;
}

static int refuse_pre_patch(struct klp_object* obj) {
  return -EBUSY;
}
