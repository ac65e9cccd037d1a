#include <linux/seq_file.h>
#include <linux/utsname.h>

static int version_mark_proc_show(struct seq_file* m, void* v) {
  seq_printf(m, "Linux version %s (livepatched by lpmon: CVE-2099-1102)\n", utsname()->release);
  return 0;
}
