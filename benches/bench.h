/* Shared by the benchmark programs. */
#ifndef STASIS_BENCH_H
#define STASIS_BENCH_H

#include <sys/syscall.h>
#include <unistd.h>

/* stasis refuses fds it cannot checkpoint (a pipe inherited from the shell,
 * say): a benchmarked program keeps only stdin, stdout and stderr. */
__attribute__((unused)) static void close_inherited_fds(void)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
		return;
#endif
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
}

#endif
