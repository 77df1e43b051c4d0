/* A pipe whose signal-driven I/O owner (F_SETOWN) is the parent of the
 * scenario, a process outside the dumped tree: the dump must be refused, and
 * the process run on with its owner unchanged. */
#include "scenario.h"
#include <fcntl.h>

int main(void)
{
	int p[2];
	SETUP(pipe(p) == 0);
	pid_t parent = getppid();
	SETUP(fcntl(p[0], F_SETOWN, parent) == 0);
	ready();
	wait_for_go();
	if (fcntl(p[0], F_GETOWN) != parent)
		fail("the owner is %d, expected %d", fcntl(p[0], F_GETOWN), parent);
	return finish();
}
