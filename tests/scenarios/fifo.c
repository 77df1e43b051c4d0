/* A FIFO (named pipe) shared by a parent and its child survives with the bytes
 * in flight and its capacity: the parent holds it O_RDWR (fd 10) and O_RDONLY
 * non-blocking (fd 11), the child O_WRONLY blocking (fd 12). The child wrote
 * bytes that nobody has read yet. After restore the parent must read them
 * exactly once, then the child's and its own new writes must pass through,
 * and the FIFO must still be the one at the path. */
#include "scenario.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define CAPACITY (128 * 1024)
static const char in_flight[] = "bytes in flight through the fifo";

/* Reads whatever the non-blocking fd holds right now. */
static ssize_t drain(int fd, char *buf, size_t len)
{
	ssize_t have = 0;
	while ((size_t)have < len) {
		ssize_t n = read(fd, buf + have, len - (size_t)have);
		if (n <= 0)
			break;
		have += n;
	}
	return have;
}

int main(void)
{
	SETUP(mkfifo("fifo", 0640) == 0);
	/* O_RDWR first: the other opens then find a peer and do not block. */
	int rw = open("fifo", O_RDWR);
	SETUP(rw >= 0 && dup2(rw, 10) == 10 && close(rw) == 0);
	int rd = open("fifo", O_RDONLY | O_NONBLOCK);
	SETUP(rd >= 0 && dup2(rd, 11) == 11 && close(rd) == 0);
	SETUP(fcntl(10, F_SETPIPE_SZ, CAPACITY) == CAPACITY);
	struct stat before;
	SETUP(stat("fifo", &before) == 0);

	pid_t child = fork();
	SETUP(child >= 0);
	if (child == 0) {
		close(10);
		close(11);
		int wr = open("fifo", O_WRONLY);
		SETUP(wr >= 0 && dup2(wr, 12) == 12 && close(wr) == 0);
		SETUP(write(12, in_flight, strlen(in_flight)) == (ssize_t)strlen(in_flight));
		int marker = open("child_ready", O_CREAT | O_WRONLY, 0644);
		SETUP(marker >= 0 && close(marker) == 0);
		/* The parent reads the bytes in flight first. */
		wait_for_file("parent_drained");
		int errors = 0;
		int fl = fcntl(12, F_GETFL);
		if ((fl & O_ACCMODE) != O_WRONLY || (fl & O_NONBLOCK)) {
			say("FAIL: child's fifo fd 12 has flags %#o, expected O_WRONLY and blocking\n", fl);
			errors++;
		}
		if (write(12, "child-after", 11) != 11) {
			say("FAIL: child's write to the fifo failed: %s\n", strerror(errno));
			errors++;
		}
		_exit(errors ? 1 : 0);
	}
	wait_for_file("child_ready");
	ready();
	wait_for_go();

	struct stat now, st10, st11;
	SETUP(stat("fifo", &now) == 0);
	if (fstat(10, &st10) != 0 || fstat(11, &st11) != 0)
		fail("fifo fds 10/11 are not open after restore");
	else if (st10.st_ino != now.st_ino || st11.st_ino != now.st_ino || !S_ISFIFO(st10.st_mode))
		fail("fifo fds 10/11 no longer refer to the FIFO at ./fifo");
	if (now.st_ino != before.st_ino)
		fail("./fifo was replaced (inode %lu, was %lu)", (unsigned long)now.st_ino,
		     (unsigned long)before.st_ino);
	int size = fcntl(11, F_GETPIPE_SZ);
	if (size != CAPACITY)
		fail("fifo capacity is %d, expected %d", size, CAPACITY);
	int fl10 = fcntl(10, F_GETFL), fl11 = fcntl(11, F_GETFL);
	if ((fl10 & O_ACCMODE) != O_RDWR || (fl10 & O_NONBLOCK))
		fail("fd 10 has flags %#o, expected O_RDWR, blocking", fl10);
	if ((fl11 & O_ACCMODE) != O_RDONLY || !(fl11 & O_NONBLOCK))
		fail("fd 11 has flags %#o, expected O_RDONLY | O_NONBLOCK", fl11);

	/* The bytes in flight, exactly once. */
	char buf[256] = { 0 };
	ssize_t n = drain(11, buf, sizeof(buf) - 1);
	if (n != (ssize_t)strlen(in_flight) || memcmp(buf, in_flight, strlen(in_flight)) != 0)
		fail("fifo gave %zd bytes \"%s\", expected %zu bytes \"%s\"", n, buf, strlen(in_flight),
		     in_flight);

	/* New writes through the child's O_WRONLY description. */
	int marker = open("parent_drained", O_CREAT | O_WRONLY, 0644);
	SETUP(marker >= 0 && close(marker) == 0);
	int status;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("child did not exit 0 (status %#x)", status);
	memset(buf, 0, sizeof(buf));
	n = drain(11, buf, sizeof(buf) - 1);
	if (n != 11 || memcmp(buf, "child-after", 11) != 0)
		fail("after restore the child's write arrived as %zd bytes \"%s\"", n, buf);

	/* And through the parent's O_RDWR one. */
	if (write(10, "parent", 6) != 6)
		fail("write to fd 10 failed: %s", strerror(errno));
	memset(buf, 0, sizeof(buf));
	n = drain(11, buf, sizeof(buf) - 1);
	if (n != 6 || memcmp(buf, "parent", 6) != 0)
		fail("the parent's write arrived as %zd bytes \"%s\"", n, buf);
	if (read(11, buf, 1) != -1 || errno != EAGAIN)
		fail("the empty fifo did not answer EAGAIN");
	return finish();
}
