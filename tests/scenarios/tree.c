/* A three-level tree survives with its pids, parents, process groups and
 * sessions, and the pipes between its processes: the parent (a session leader)
 * forks A, which leads its own process group; A forks B, which calls setsid(),
 * and C, which stays in A's group. The parent writes into a pipe read by A,
 * with bytes in flight at the dump; B holds a pipe to the parent. After go every
 * process checks its own ids, then the parent collects the children's verdicts
 * through their exit codes. */
#include "scenario.h"
#include <sys/wait.h>

struct ids {
	pid_t pid, ppid, pgid, sid;
};

static struct ids mine(void)
{
	struct ids i = { getpid(), getppid(), getpgid(0), getsid(0) };
	return i;
}

static int same(const char *who, struct ids a, struct ids b)
{
	int bad = 0;
	if (a.pid != b.pid || a.ppid != b.ppid || a.pgid != b.pgid || a.sid != b.sid) {
		fail("%s: pid/ppid/pgid/sid %d/%d/%d/%d, expected %d/%d/%d/%d", who, b.pid, b.ppid,
		     b.pgid, b.sid, a.pid, a.ppid, a.pgid, a.sid);
		bad = 1;
	}
	return bad;
}

/* Child body: wait for go, check ids, run `extra`, exit 0 on success. */
static void child_checks(const char *who, struct ids before, int (*extra)(void))
{
	wait_for_file("go");
	int bad = same(who, before, mine());
	if (extra)
		bad |= extra();
	_exit(bad ? 1 : 0);
}

static int to_a[2], from_b[2];

static int a_reads_pipe(void)
{
	char buf[16] = { 0 };
	size_t got = 0;
	while (got < 10) {
		ssize_t n = read(to_a[0], buf + got, 10 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != 10 || memcmp(buf, "0123456789", 10) != 0) {
		fail("A read \"%s\" from the parent's pipe, expected 0123456789", buf);
		return 1;
	}
	return 0;
}

static int b_writes_pipe(void)
{
	if (write(from_b[1], "from-b", 6) != 6) {
		fail("B cannot write to the parent: %s", strerror(errno));
		return 1;
	}
	return 0;
}

int main(void)
{
	SETUP(pipe(to_a) == 0 && pipe(from_b) == 0);
	int ready_pipe[2];
	SETUP(pipe(ready_pipe) == 0);
	pid_t a = fork();
	SETUP(a >= 0);
	if (a == 0) {
		SETUP(setpgid(0, 0) == 0);
		close(to_a[1]);
		pid_t b = fork();
		SETUP(b >= 0);
		if (b == 0) {
			SETUP(setsid() == getpid());
			struct ids before = mine();
			(void)!write(ready_pipe[1], "b", 1);
			child_checks("B", before, b_writes_pipe);
		}
		pid_t c = fork();
		SETUP(c >= 0);
		if (c == 0) {
			struct ids before = mine();
			(void)!write(ready_pipe[1], "c", 1);
			child_checks("C", before, NULL);
		}
		struct ids before = mine();
		(void)!write(ready_pipe[1], "a", 1);
		wait_for_file("go");
		int bad = same("A", before, mine());
		bad |= a_reads_pipe();
		int status;
		if (waitpid(b, &status, 0) != b || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad |= fail("A: grandchild B did not exit 0 (status %#x)", status);
		if (waitpid(c, &status, 0) != c || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad |= fail("A: grandchild C did not exit 0 (status %#x)", status);
		_exit(bad ? 1 : 0);
	}
	close(to_a[0]);
	close(from_b[1]);
	char c;
	for (int i = 0; i < 3; i++)
		SETUP(read(ready_pipe[0], &c, 1) == 1);
	close(ready_pipe[0]);
	close(ready_pipe[1]);
	/* Bytes in flight in the pipe to A at the dump. */
	SETUP(write(to_a[1], "0123456789", 10) == 10);
	struct ids before = mine();
	ready();
	wait_for_go();
	same("parent", before, mine());
	char buf[8] = { 0 };
	if (read(from_b[0], buf, 6) != 6 || memcmp(buf, "from-b", 6) != 0)
		fail("parent read \"%s\" from B, expected from-b", buf);
	int status;
	if (waitpid(a, &status, 0) != a || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("child A did not exit 0 (status %#x)", status);
	return finish();
}
