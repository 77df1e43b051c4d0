/* Zombies stay zombies: two children have ended (one with exit code 42, one
 * killed by SIGTERM) and are not reaped at the dump. After restore the parent
 * reaps them and must get the same pids and statuses. */
#include "scenario.h"
#include <signal.h>
#include <sys/wait.h>

static int is_zombie(pid_t pid)
{
	return proc_state(pid) == 'Z';
}

int main(void)
{
	pid_t exited = fork();
	SETUP(exited >= 0);
	if (exited == 0)
		_exit(42);
	pid_t killed = fork();
	SETUP(killed >= 0);
	if (killed == 0) {
		signal(SIGTERM, SIG_DFL);
		raise(SIGTERM);
		_exit(1);
	}
	while (!is_zombie(exited) || !is_zombie(killed))
		usleep(1000);
	ready();
	wait_for_go();
	if (!is_zombie(exited) || !is_zombie(killed))
		fail("after restore the children are not zombies any more");
	int status;
	if (waitpid(exited, &status, 0) != exited)
		fail("waitpid(%d): %s", exited, strerror(errno));
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 42)
		fail("child %d: status %#x, expected exit code 42", exited, status);
	if (waitpid(killed, &status, 0) != killed)
		fail("waitpid(%d): %s", killed, strerror(errno));
	else if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGTERM)
		fail("child %d: status %#x, expected killed by SIGTERM", killed, status);
	return finish();
}
