// Drives proc_timens_set_offset(): a fresh time namespace for children, then one write to
// /proc/self/timens_offsets. Prints "accepted" or "rejected: <errno text>".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  const char* offsets = argc > 1 ? argv[1] : "monotonic 0 0";
  if (unshare(CLONE_NEWTIME) != 0) {
    printf("unshare(CLONE_NEWTIME): %s\n", strerror(errno));
    return 2;
  }
  int fd = open("/proc/self/timens_offsets", O_WRONLY);
  if (fd < 0) {
    printf("open /proc/self/timens_offsets: %s\n", strerror(errno));
    return 2;
  }
  if (write(fd, offsets, strlen(offsets)) < 0) {
    printf("rejected: %s\n", strerror(errno));
  } else {
    printf("accepted\n");
  }
  close(fd);
  return 0;
}
