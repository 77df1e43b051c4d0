/* memfds survive a checkpoint with their name, content, size, offset and
 * seals: one sealed against growing and shrinking (opened a second time
 * through /proc, read-only), one sealed against writing, and one made without
 * MFD_ALLOW_SEALING (which shows as F_SEAL_SEAL); and a 1 GiB sparse one with
 * a few bytes in the middle (the harness checks that the dump stays small).
 * After restore the seals still hold and both opens of the first are one
 * inode. */
#include "scenario.h"
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define CONTENT 3000
#define SIZE 8192

static uint8_t buf[SIZE];

static void check_name(int fd, const char *expected)
{
	char path[64], link[PATH_MAX] = { 0 };
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (readlink(path, link, sizeof(link) - 1) <= 0 || strcmp(link, expected) != 0)
		fail("fd %d links to \"%s\", expected \"%s\"", fd, link, expected);
}

int main(void)
{
	int m = memfd_create("stasis test", MFD_ALLOW_SEALING);
	SETUP(m >= 0);
	fill_pattern(buf, CONTENT, 21);
	SETUP(write(m, buf, CONTENT) == CONTENT);
	SETUP(ftruncate(m, SIZE) == 0);
	SETUP(lseek(m, 42, SEEK_SET) == 42);
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", m);
	int m2 = open(path, O_RDONLY);
	SETUP(m2 >= 0);
	SETUP(fcntl(m, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK) == 0);
	int seals_m = fcntl(m, F_GET_SEALS);

	int w = memfd_create("write-sealed", MFD_ALLOW_SEALING);
	SETUP(w >= 0 && write(w, "frozen", 6) == 6);
	SETUP(fcntl(w, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SEAL) == 0);
	int seals_w = fcntl(w, F_GET_SEALS);

	int p = memfd_create("plain", 0);
	SETUP(p >= 0 && write(p, "hello", 5) == 5);
	int seals_p = fcntl(p, F_GET_SEALS);
	SETUP(seals_p == F_SEAL_SEAL);
	int big = memfd_create("sparse", 0);
	SETUP(big >= 0 && ftruncate(big, 1L << 30) == 0);
	SETUP(pwrite(big, "middle", 6, 512L << 20) == 6);
	struct stat before_m, before_p;
	SETUP(fstat(m, &before_m) == 0 && fstat(p, &before_p) == 0);

	ready();
	wait_for_go();

	check_name(m, "/memfd:stasis test (deleted)");
	check_name(m2, "/memfd:stasis test (deleted)");
	check_name(w, "/memfd:write-sealed (deleted)");
	check_name(p, "/memfd:plain (deleted)");
	struct stat st, st2;
	SETUP(fstat(m, &st) == 0 && fstat(m2, &st2) == 0);
	if (st.st_size != SIZE)
		fail("memfd size %ld, expected %d", (long)st.st_size, SIZE);
	if (st.st_ino != st2.st_ino)
		fail("the two opens of the memfd are different inodes now");
	if ((st.st_mode & 07777) != (before_m.st_mode & 07777))
		fail("memfd mode %o, expected %o", st.st_mode & 07777, before_m.st_mode & 07777);
	if (lseek(m, 0, SEEK_CUR) != 42)
		fail("memfd offset %ld, expected 42", (long)lseek(m, 0, SEEK_CUR));
	if (lseek(m2, 0, SEEK_CUR) != 0)
		fail("the read-only open's offset is %ld, expected 0", (long)lseek(m2, 0, SEEK_CUR));
	if ((fcntl(m2, F_GETFL) & O_ACCMODE) != O_RDONLY)
		fail("the second open is no longer read-only");
	memset(buf, 0xff, sizeof(buf));
	if (pread(m, buf, SIZE, 0) != SIZE)
		fail("pread of the memfd failed");
	else if (check_pattern(buf, CONTENT, 21) >= 0)
		fail("memfd byte %ld differs", check_pattern(buf, CONTENT, 21));
	for (int i = CONTENT; i < SIZE; i++)
		if (buf[i] != 0) {
			fail("memfd byte %d past the content is %#x, expected 0", i, buf[i]);
			break;
		}

	int seals = fcntl(m, F_GET_SEALS);
	if (seals != seals_m)
		fail("memfd seals %#x, expected %#x", seals, seals_m);
	if (ftruncate(m, SIZE * 2) == 0 || errno != EPERM)
		fail("a memfd sealed against growing grew");
	if (ftruncate(m, 10) == 0 || errno != EPERM)
		fail("a memfd sealed against shrinking shrank");
	if (pwrite(m, "YY", 2, 100) != 2)
		fail("writing inside the sealed memfd failed: %s", strerror(errno));
	char got[8] = { 0 };
	if (pread(m2, got, 2, 100) != 2 || memcmp(got, "YY", 2) != 0)
		fail("the second open reads \"%s\" where the first wrote \"YY\"", got);

	if (fcntl(w, F_GET_SEALS) != seals_w)
		fail("write-sealed memfd seals %#x, expected %#x", fcntl(w, F_GET_SEALS), seals_w);
	if (pwrite(w, "x", 1, 0) != -1 || errno != EPERM)
		fail("a memfd sealed against writing accepted a write");
	memset(got, 0, sizeof(got));
	if (pread(w, got, 6, 0) != 6 || memcmp(got, "frozen", 6) != 0)
		fail("write-sealed memfd holds \"%s\", expected \"frozen\"", got);

	if (fcntl(p, F_GET_SEALS) != F_SEAL_SEAL)
		fail("memfd made without MFD_ALLOW_SEALING has seals %#x", fcntl(p, F_GET_SEALS));
	if (fcntl(p, F_ADD_SEALS, F_SEAL_WRITE) != -1 || errno != EPERM)
		fail("memfd made without MFD_ALLOW_SEALING accepted a seal");
	memset(got, 0, sizeof(got));
	if (pread(p, got, 5, 0) != 5 || memcmp(got, "hello", 5) != 0 || lseek(p, 0, SEEK_CUR) != 5)
		fail("plain memfd holds \"%s\" at offset %ld, expected \"hello\" at 5", got,
		     (long)lseek(p, 0, SEEK_CUR));
	struct stat sb;
	SETUP(fstat(big, &sb) == 0);
	if (sb.st_size != 1L << 30)
		fail("sparse memfd size %ld, expected 1 GiB", (long)sb.st_size);
	memset(got, 0, sizeof(got));
	if (pread(big, got, 6, 512L << 20) != 6 || memcmp(got, "middle", 6) != 0)
		fail("sparse memfd holds \"%s\" at 512 MiB, expected \"middle\"", got);
	memset(got, 1, sizeof(got));
	if (pread(big, got, 4, (512L << 20) - 2) != 4 || memcmp(got, "\0\0mi", 4) != 0)
		fail("sparse memfd: the hole before the data does not read as zeros");
	if (pread(big, got, 4, (1L << 30) - 4) != 4 || memcmp(got, "\0\0\0\0", 4) != 0)
		fail("sparse memfd: the hole at the end does not read as zeros");
	return finish();
}
