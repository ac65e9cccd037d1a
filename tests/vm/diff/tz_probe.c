// settimeofday(NULL, {minuteswest, dsttime}) as the probe of the tz_out_of_range edge case:
// prints "accepted" or "rejected: <error>". The raw system call, so glibc cannot decide.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: tz_probe MINUTESWEST DSTTIME\n");
    return 2;
  }
  struct timezone tz = {.tz_minuteswest = atoi(argv[1]), .tz_dsttime = atoi(argv[2])};
  if (syscall(SYS_settimeofday, NULL, &tz) == 0)
    puts("accepted");
  else
    printf("rejected: %s\n", strerror(errno));
  return 0;
}
