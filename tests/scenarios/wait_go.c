/* The smallest scenario: wait for go, then exit with the status given in
 * argv[1] (default 0), after printing the pid it runs as. Used by the tests
 * that are about the tool rather than about process state (exit status of a
 * non-detached restore, image permissions, `stasis show`, damaged images). */
#include "scenario.h"

int main(int argc, char **argv)
{
	int status = argc > 1 ? atoi(argv[1]) : 0;
	ready();
	wait_for_go();
	say("PID %d\n", getpid());
	say("EXIT %d\n", status);
	if (status == 0)
		return finish();
	return status;
}
