/* Open files survive a checkpoint: regular files with their offsets and flags
 * (O_APPEND, O_RDONLY, O_RDWR), shared descriptions after dup() versus
 * separate opens of the same file, close-on-exec per fd, a high fd number,
 * directories opened O_RDONLY and O_PATH, and the character devices /dev/null,
 * /dev/zero, /dev/full, /dev/random and /dev/urandom. */
#include "scenario.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define MAXFD 256

struct fd_info {
	int fd_flags, fl_flags;
	struct stat st;
	off_t pos;
	char link[256];
};

static struct fd_info before[MAXFD], after[MAXFD];

static void snapshot(struct fd_info *t)
{
	for (int fd = 0; fd < MAXFD; fd++) {
		struct fd_info *i = &t[fd];
		memset(i, 0, sizeof(*i));
		i->fd_flags = fcntl(fd, F_GETFD);
		if (i->fd_flags < 0)
			continue;
		i->fl_flags = fcntl(fd, F_GETFL);
		fstat(fd, &i->st);
		i->pos = lseek(fd, 0, SEEK_CUR);
		if (i->pos < 0)
			i->pos = -errno;
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(path, i->link, sizeof(i->link) - 1);
		i->link[n > 0 ? n : 0] = 0;
	}
}

static void compare_tables(void)
{
	for (int fd = 0; fd < MAXFD; fd++) {
		struct fd_info *b = &before[fd], *a = &after[fd];
		if ((b->fd_flags < 0) != (a->fd_flags < 0)) {
			fail("fd %d: %s after restore", fd, a->fd_flags < 0 ? "closed" : "open");
			continue;
		}
		if (b->fd_flags < 0)
			continue;
		if (a->fd_flags != b->fd_flags)
			fail("fd %d (%s): F_GETFD %#x, expected %#x", fd, b->link, a->fd_flags, b->fd_flags);
		if (a->fl_flags != b->fl_flags)
			fail("fd %d (%s): F_GETFL %#o, expected %#o", fd, b->link, a->fl_flags, b->fl_flags);
		if (a->st.st_dev != b->st.st_dev || a->st.st_ino != b->st.st_ino ||
		    a->st.st_rdev != b->st.st_rdev || a->st.st_mode != b->st.st_mode)
			fail("fd %d (%s): now dev %#lx ino %lu rdev %#lx mode %#o, expected dev %#lx ino %lu rdev %#lx mode %#o",
			     fd, b->link, (unsigned long)a->st.st_dev, (unsigned long)a->st.st_ino,
			     (unsigned long)a->st.st_rdev, a->st.st_mode, (unsigned long)b->st.st_dev,
			     (unsigned long)b->st.st_ino, (unsigned long)b->st.st_rdev, b->st.st_mode);
		if (strcmp(a->link, b->link) != 0)
			fail("fd %d: refers to \"%s\", expected \"%s\"", fd, a->link, b->link);
		/* fds 1 and 2 are the harness's log, which READY moved on */
		if (fd > 2 && a->pos != b->pos)
			fail("fd %d (%s): offset %lld, expected %lld", fd, b->link, (long long)a->pos,
			     (long long)b->pos);
	}
}

static off_t pos(int fd)
{
	return lseek(fd, 0, SEEK_CUR);
}

static void write_file(const char *name, const void *data, size_t len)
{
	int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	SETUP(fd >= 0);
	SETUP(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

static size_t read_whole(const char *name, char *buf, size_t cap)
{
	int fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, cap);
	close(fd);
	return n > 0 ? (size_t)n : 0;
}

static void expect_pos(const char *what, int fd, off_t want)
{
	off_t p = pos(fd);
	if (p != want)
		fail("%s (fd %d): offset %lld, expected %lld", what, fd, (long long)p, (long long)want);
}

static void expect_read(const char *what, int fd, size_t len, uint64_t seed, size_t at)
{
	uint8_t buf[4096];
	ssize_t n = read(fd, buf, len);
	if (n != (ssize_t)len) {
		fail("%s (fd %d): read %zu bytes returned %zd (%s)", what, fd, len, n,
		     n < 0 ? strerror(errno) : "short");
		return;
	}
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern_byte(seed, at + i)) {
			fail("%s (fd %d): byte at file offset %zu differs", what, fd, at + i);
			return;
		}
}

static void expect_dev(const char *name, int fd, unsigned major, unsigned minor)
{
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(major, minor))
		fail("%s (fd %d) is not the character device %u:%u", name, fd, major, minor);
}

int main(void)
{
	static uint8_t data[8192];

	/* O_APPEND: a second, non-append description writes at offset 7, so an
	 * fd that lost O_APPEND would overwrite "middle" instead of appending. */
	int fd_app = open("append.txt", O_WRONLY | O_APPEND | O_CREAT | O_TRUNC, 0644);
	SETUP(fd_app >= 0);
	SETUP(write(fd_app, "before\n", 7) == 7);
	int fd_mid = open("append.txt", O_WRONLY);
	SETUP(fd_mid >= 0);
	SETUP(pwrite(fd_mid, "middle\n", 7, 7) == 7);

	/* O_RDONLY at an offset, and a second description of the same file. */
	fill_pattern(data, sizeof(data), 21);
	write_file("read.txt", data, sizeof(data));
	int fd_r = open("read.txt", O_RDONLY);
	SETUP(fd_r >= 0);
	SETUP(read(fd_r, data, 1000) == 1000);
	int fd_r2 = open("read.txt", O_RDONLY);
	SETUP(fd_r2 >= 0);
	SETUP(read(fd_r2, data, 50) == 50);
	/* The same description as fd_r under a close-on-exec fd. */
	int fd_r_ce = dup3(fd_r, 77, O_CLOEXEC);
	SETUP(fd_r_ce == 77);

	/* O_RDWR with a position, and a dup sharing it. */
	fill_pattern(data, 5000, 22);
	int fd_rw = open("rdwr.txt", O_RDWR | O_CREAT | O_TRUNC, 0600);
	SETUP(fd_rw >= 0);
	SETUP(write(fd_rw, data, 5000) == 5000);
	SETUP(lseek(fd_rw, 1234, SEEK_SET) == 1234);
	int fd_dup = dup(fd_rw);
	SETUP(fd_dup >= 0);

	/* Close-on-exec from open(). */
	int fd_ce = open("read.txt", O_RDONLY | O_CLOEXEC);
	SETUP(fd_ce >= 0);

	/* A high fd number. */
	int tmp = open("high.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
	SETUP(tmp >= 0);
	SETUP(write(tmp, "high fd\n", 8) == 8);
	SETUP(lseek(tmp, 5, SEEK_SET) == 5);
	SETUP(dup2(tmp, 100) == 100);
	SETUP(close(tmp) == 0);

	/* Directories. */
	SETUP(mkdir("subdir", 0755) == 0);
	write_file("subdir/inner", "x", 1);
	int fd_dir = open(".", O_RDONLY | O_DIRECTORY);
	SETUP(fd_dir >= 0);
	int fd_opath = open("subdir", O_PATH);
	SETUP(fd_opath >= 0);

	/* Character devices. */
	int fd_null = open("/dev/null", O_WRONLY);
	int fd_zero = open("/dev/zero", O_RDONLY);
	int fd_full = open("/dev/full", O_WRONLY);
	int fd_random = open("/dev/random", O_RDONLY);
	int fd_urandom = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	SETUP(fd_null >= 0 && fd_zero >= 0 && fd_full >= 0 && fd_random >= 0 && fd_urandom >= 0);

	snapshot(before);
	ready();
	wait_for_go();
	snapshot(after);
	compare_tables();

	/* O_APPEND */
	if (!(fcntl(fd_app, F_GETFL) & O_APPEND))
		fail("append.txt (fd %d) lost O_APPEND", fd_app);
	if (write(fd_app, "after\n", 6) != 6)
		fail("write to append.txt failed: %s", strerror(errno));
	char text[256] = { 0 };
	read_whole("append.txt", text, sizeof(text) - 1);
	if (strcmp(text, "before\nmiddle\nafter\n") != 0)
		fail("append.txt holds \"%s\", expected \"before\\nmiddle\\nafter\\n\"", text);
	expect_pos("append.txt, second description", fd_mid, 0);

	/* Offsets: separate descriptions move separately, dups together. */
	expect_pos("read.txt", fd_r, 1000);
	expect_pos("read.txt (dup3, cloexec)", fd_r_ce, 1000);
	expect_pos("read.txt, second description", fd_r2, 50);
	expect_read("read.txt", fd_r, 100, 21, 1000);
	expect_pos("read.txt (dup3, cloexec) after reading the shared description", fd_r_ce, 1100);
	expect_pos("read.txt, second description after reading the first", fd_r2, 50);
	expect_read("read.txt, second description", fd_r2, 10, 21, 50);
	expect_pos("read.txt (O_CLOEXEC)", fd_ce, 0);
	expect_read("read.txt (O_CLOEXEC)", fd_ce, 64, 21, 0);

	expect_pos("rdwr.txt", fd_rw, 1234);
	expect_pos("rdwr.txt (dup)", fd_dup, 1234);
	if (write(fd_dup, "XYZ", 3) != 3)
		fail("write to rdwr.txt (dup) failed: %s", strerror(errno));
	expect_pos("rdwr.txt after writing through its dup", fd_rw, 1237);
	{
		static uint8_t back[5000];
		if (pread(fd_rw, back, 5000, 0) != 5000)
			fail("rdwr.txt: cannot read 5000 bytes back");
		else
			for (size_t i = 0; i < 5000; i++) {
				uint8_t want = i >= 1234 && i < 1237 ? (uint8_t)"XYZ"[i - 1234]
								      : pattern_byte(22, i);
				if (back[i] != want) {
					fail("rdwr.txt: byte %zu is %#x, expected %#x", i, back[i], want);
					break;
				}
			}
		struct stat st;
		if (fstat(fd_rw, &st) != 0 || st.st_size != 5000)
			fail("rdwr.txt: size %lld, expected 5000", (long long)st.st_size);
	}

	/* Close-on-exec is per fd. */
	if (fcntl(fd_ce, F_GETFD) != FD_CLOEXEC)
		fail("fd %d (opened O_CLOEXEC): F_GETFD %d", fd_ce, fcntl(fd_ce, F_GETFD));
	if (fcntl(fd_r_ce, F_GETFD) != FD_CLOEXEC)
		fail("fd 77 (dup3 O_CLOEXEC): F_GETFD %d", fcntl(fd_r_ce, F_GETFD));
	if (fcntl(fd_r, F_GETFD) != 0 || fcntl(fd_dup, F_GETFD) != 0)
		fail("fds %d and %d must not be close-on-exec", fd_r, fd_dup);

	/* fd 100 */
	{
		char buf[8] = { 0 };
		expect_pos("high.txt (fd 100)", 100, 5);
		if (read(100, buf, 3) != 3 || memcmp(buf, "fd\n", 3) != 0)
			fail("fd 100: read \"%s\", expected \"fd\\n\"", buf);
		char link[256] = { 0 };
		readlink("/proc/self/fd/100", link, sizeof(link) - 1);
		size_t l = strlen(link);
		if (l < 9 || strcmp(link + l - 9, "/high.txt") != 0)
			fail("fd 100 refers to \"%s\", expected .../high.txt", link);
	}

	/* Directories still work as directories. */
	{
		int f = openat(fd_dir, "read.txt", O_RDONLY | O_CLOEXEC);
		if (f < 0)
			fail("openat(directory fd %d, \"read.txt\"): %s", fd_dir, strerror(errno));
		else
			close(f);
		if (faccessat(fd_opath, "inner", F_OK, 0) != 0)
			fail("faccessat(O_PATH fd %d, \"inner\"): %s", fd_opath, strerror(errno));
		if (!(fcntl(fd_opath, F_GETFL) & O_PATH))
			fail("fd %d lost O_PATH", fd_opath);
		struct stat st_dir, st_sub, st_fd;
		stat(".", &st_dir);
		stat("subdir", &st_sub);
		if (fstat(fd_dir, &st_fd) != 0 || st_fd.st_ino != st_dir.st_ino || st_fd.st_dev != st_dir.st_dev)
			fail("directory fd %d is not the working directory", fd_dir);
		if (fstat(fd_opath, &st_fd) != 0 || st_fd.st_ino != st_sub.st_ino || st_fd.st_dev != st_sub.st_dev)
			fail("O_PATH fd %d is not subdir", fd_opath);
	}

	/* Devices behave as themselves. */
	expect_dev("/dev/null", fd_null, 1, 3);
	expect_dev("/dev/zero", fd_zero, 1, 5);
	expect_dev("/dev/full", fd_full, 1, 7);
	expect_dev("/dev/random", fd_random, 1, 8);
	expect_dev("/dev/urandom", fd_urandom, 1, 9);
	if (write(fd_null, "abc", 3) != 3)
		fail("write to /dev/null failed: %s", strerror(errno));
	{
		uint8_t z[64];
		memset(z, 0xff, sizeof(z));
		if (read(fd_zero, z, sizeof(z)) != (ssize_t)sizeof(z))
			fail("read from /dev/zero failed");
		for (size_t i = 0; i < sizeof(z); i++)
			if (z[i]) {
				fail("/dev/zero returned a non-zero byte");
				break;
			}
	}
	errno = 0;
	if (write(fd_full, "abc", 3) != -1 || errno != ENOSPC)
		fail("write to /dev/full did not fail with ENOSPC (errno %d)", errno);
	{
		uint8_t r[16];
		if (read(fd_random, r, sizeof(r)) != (ssize_t)sizeof(r))
			fail("read from /dev/random failed: %s", strerror(errno));
		if (read(fd_urandom, r, sizeof(r)) != (ssize_t)sizeof(r))
			fail("read from /dev/urandom failed: %s", strerror(errno));
	}
	return finish();
}
