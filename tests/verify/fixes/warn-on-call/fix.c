#include <linux/seq_file.h>

/* A broken fix as lpmon verify must catch it: it works, but warns once it runs. */
static int warn_cmdline_proc_show(struct seq_file* m, void* v) {
  WARN_ON_ONCE(1);
  seq_puts(m, "warn-on-call: a replacement that warns\n");
  return 0;
}
