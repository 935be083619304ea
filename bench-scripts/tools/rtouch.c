#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
/* rtouch FILE N SPAN_MB: touch N random pages of the first SPAN_MB of FILE mapped MAP_PRIVATE; prints seconds
   (bench-scripts/tools/readahead-ab.sh WHAT=rvm) */
int main(int argc, char **argv) {
  int fd = open(argv[1], O_RDONLY);
  long n = atol(argv[2]), span = atol(argv[3]) * 256L;
  struct stat st; fstat(fd, &st);
  unsigned char *m = mmap(0, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (m == MAP_FAILED) { perror("mmap"); return 1; }
  srand(7); unsigned long sum = 0;
  struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
  for (long k = 0; k < n; k++) { long p = ((long) rand() * RAND_MAX + rand()) % span; sum += m[p * 4096]; }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.3f s (%lu)\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9, sum);
  return 0;
}
