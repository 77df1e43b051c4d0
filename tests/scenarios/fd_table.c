/* The fd table comes back exactly: numbers with gaps and a high one (1000, far
 * above the others), close-on-exec per fd (fd 7 and its dup 1000 differ, and
 * fd 9 and its dup 12 the other way round), and O_PATH fds of a regular file
 * and of a directory that still work as O_PATH fds. Every other number below
 * 1100 must be closed. */
#include "scenario.h"
#include <fcntl.h>
#include <sys/stat.h>

#define MAXFD 1100

struct fd_info {
	int fd_flags, fl_flags;
	dev_t dev;
	ino_t ino;
};

static struct fd_info before[MAXFD], after[MAXFD];

static void snapshot(struct fd_info *t)
{
	for (int fd = 0; fd < MAXFD; fd++) {
		t[fd].fd_flags = fcntl(fd, F_GETFD);
		if (t[fd].fd_flags < 0)
			continue;
		t[fd].fl_flags = fcntl(fd, F_GETFL);
		struct stat st;
		if (fstat(fd, &st) == 0) {
			t[fd].dev = st.st_dev;
			t[fd].ino = st.st_ino;
		}
	}
}

int main(void)
{
	int fd = open("data.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
	SETUP(fd >= 0);
	SETUP(write(fd, "0123456789", 10) == 10);
	SETUP(dup2(fd, 7) == 7);
	SETUP(close(fd) == 0);
	/* A dup of 7 far above everything, close-on-exec where 7 is not. */
	SETUP(dup3(7, 1000, O_CLOEXEC) == 1000);
	/* The other way round: the original close-on-exec, the dup not. */
	fd = open("data.txt", O_RDONLY | O_CLOEXEC);
	SETUP(fd >= 0);
	SETUP(dup3(fd, 9, O_CLOEXEC) == 9);
	SETUP(close(fd) == 0);
	SETUP(dup2(9, 12) == 12);

	/* O_PATH of a regular file and of a directory, at numbers in the gaps. */
	SETUP(mkdir("dir", 0755) == 0);
	fd = open("dir/inner", O_WRONLY | O_CREAT, 0644);
	SETUP(fd >= 0);
	close(fd);
	fd = open("data.txt", O_PATH);
	SETUP(fd >= 0);
	SETUP(dup2(fd, 20) == 20);
	close(fd);
	fd = open("dir", O_PATH | O_DIRECTORY | O_CLOEXEC);
	SETUP(fd >= 0);
	SETUP(dup3(fd, 21, O_CLOEXEC) == 21);
	close(fd);
	/* fds 3-6, 8, 10, 11, 13-19 and 22-999 stay free. */
	for (fd = 3; fd < MAXFD; fd++)
		if (fd != 7 && fd != 9 && fd != 12 && fd != 20 && fd != 21 && fd != 1000)
			close(fd);
	SETUP(lseek(7, 4, SEEK_SET) == 4);

	snapshot(before);
	ready();
	wait_for_go();
	snapshot(after);

	for (fd = 0; fd < MAXFD; fd++) {
		struct fd_info *b = &before[fd], *a = &after[fd];
		if ((b->fd_flags < 0) != (a->fd_flags < 0)) {
			fail("fd %d is %s after restore", fd, a->fd_flags < 0 ? "closed" : "open");
			continue;
		}
		if (b->fd_flags < 0)
			continue;
		if (a->fd_flags != b->fd_flags)
			fail("fd %d: F_GETFD %#x, expected %#x", fd, a->fd_flags, b->fd_flags);
		if (a->fl_flags != b->fl_flags)
			fail("fd %d: F_GETFL %#o, expected %#o", fd, a->fl_flags, b->fl_flags);
		if (a->dev != b->dev || a->ino != b->ino)
			fail("fd %d refers to another file", fd);
	}
	if (fcntl(7, F_GETFD) != 0 || fcntl(1000, F_GETFD) != FD_CLOEXEC)
		fail("fds 7 and 1000: F_GETFD %d and %d, expected 0 and 1", fcntl(7, F_GETFD),
		     fcntl(1000, F_GETFD));
	if (fcntl(9, F_GETFD) != FD_CLOEXEC || fcntl(12, F_GETFD) != 0)
		fail("fds 9 and 12: F_GETFD %d and %d, expected 1 and 0", fcntl(9, F_GETFD),
		     fcntl(12, F_GETFD));
	/* 7 and 1000 share one description (and its offset); 9 and 12 another. */
	if (lseek(1000, 0, SEEK_CUR) != 4)
		fail("fd 1000: offset %lld, expected 4 (shared with fd 7)", (long long)lseek(1000, 0, SEEK_CUR));
	char buf[4] = { 0 };
	if (read(1000, buf, 2) != 2 || memcmp(buf, "45", 2) != 0)
		fail("fd 1000: read \"%s\", expected \"45\"", buf);
	if (lseek(7, 0, SEEK_CUR) != 6)
		fail("fd 7 does not share its offset with fd 1000");
	if (read(12, buf, 2) != 2 || lseek(9, 0, SEEK_CUR) != 2)
		fail("fds 9 and 12 do not share their offset");

	/* O_PATH fds: flags kept, usable for what O_PATH allows, not for reading. */
	if (!(fcntl(20, F_GETFL) & O_PATH) || !(fcntl(21, F_GETFL) & O_PATH))
		fail("fds 20 and 21 lost O_PATH");
	struct stat st, st_path;
	stat("data.txt", &st);
	if (fstatat(20, "", &st_path, AT_EMPTY_PATH) != 0 || st_path.st_ino != st.st_ino)
		fail("O_PATH fd 20 is not data.txt");
	if (read(20, buf, 1) != -1 || errno != EBADF)
		fail("reading O_PATH fd 20 did not fail with EBADF");
	if (faccessat(21, "inner", F_OK, 0) != 0)
		fail("faccessat(O_PATH directory fd 21, \"inner\"): %s", strerror(errno));
	char proc[64], target[256] = { 0 };
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", 20);
	if (readlink(proc, target, sizeof(target) - 1) < 0 || strstr(target, "/data.txt") == NULL)
		fail("fd 20 refers to \"%s\"", target);
	return finish();
}
