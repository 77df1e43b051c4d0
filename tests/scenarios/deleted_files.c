/* Deleted files survive a checkpoint: a file opened twice (two descriptions),
 * one of them dup'ed and inherited by a child, then unlinked; and an O_TMPFILE
 * file. After restore
 * each has its content, size, offset and flags, is still unlinked and lives
 * in the same directory; the dup shares its offset with the original; the
 * second open sees writes made through the first (one inode, as before). */
#include "scenario.h"
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define SIZE 100000
#define TMP_SIZE 5000

static uint8_t buf[SIZE];

static void check_content(int fd, size_t len, uint64_t seed, const char *what)
{
	memset(buf, 0, sizeof(buf));
	ssize_t n = pread(fd, buf, len, 0);
	if (n != (ssize_t)len)
		fail("%s: pread gave %zd bytes, expected %zu", what, n, len);
	else if (check_pattern(buf, len, seed) >= 0)
		fail("%s: byte %ld differs", what, check_pattern(buf, len, seed));
}

static void check_file(int fd, off_t size, off_t pos, const char *what)
{
	struct stat st;
	if (fstat(fd, &st) != 0) {
		fail("%s: fd %d is not open", what, fd);
		return;
	}
	if (st.st_size != size)
		fail("%s: size %ld, expected %ld", what, (long)st.st_size, (long)size);
	if (st.st_nlink != 0)
		fail("%s: has %lu links, expected none (still deleted)", what, (unsigned long)st.st_nlink);
	if (!S_ISREG(st.st_mode) || (st.st_mode & 07777) != 0640)
		fail("%s: mode %o, expected regular 0640", what, st.st_mode);
	off_t at = lseek(fd, 0, SEEK_CUR);
	if (at != pos)
		fail("%s: offset %ld, expected %ld", what, (long)at, (long)pos);
}

/* The restored file must be in the directory the original was in. */
static void check_dir(int fd, const char *cwd, const char *what)
{
	char path[64], link[PATH_MAX] = { 0 };
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	SETUP(readlink(path, link, sizeof(link) - 1) > 0);
	size_t len = strlen(cwd);
	if (strncmp(link, cwd, len) != 0 || link[len] != '/' || strchr(link + len + 1, '/'))
		fail("%s: now %s, expected a file in %s", what, link, cwd);
	if (!strstr(link, " (deleted)"))
		fail("%s: %s is not deleted", what, link);
}

int main(void)
{
	char cwd[PATH_MAX];
	SETUP(getcwd(cwd, sizeof(cwd)) != NULL);
	umask(0);

	int a = open("doomed.dat", O_RDWR | O_CREAT | O_EXCL, 0640);
	SETUP(a >= 0);
	fill_pattern(buf, SIZE, 11);
	SETUP(write(a, buf, SIZE) == SIZE);
	int b = open("doomed.dat", O_RDONLY);
	SETUP(b >= 0);
	int app = open("doomed.dat", O_WRONLY | O_APPEND);
	SETUP(app >= 0);
	SETUP(unlink("doomed.dat") == 0);
	SETUP(lseek(a, 12345, SEEK_SET) == 12345);
	int c = dup(a);
	SETUP(c >= 0);
	SETUP(lseek(b, 777, SEEK_SET) == 777);

	int t = open(".", O_TMPFILE | O_RDWR, 0640);
	SETUP(t >= 0);
	fill_pattern(buf, TMP_SIZE, 12);
	SETUP(write(t, buf, TMP_SIZE) == TMP_SIZE);
	SETUP(lseek(t, 100, SEEK_SET) == 100);
	int flags_a = fcntl(a, F_GETFL), flags_b = fcntl(b, F_GETFL);
	int flags_app = fcntl(app, F_GETFL), flags_t = fcntl(t, F_GETFL);

	/* The child shares the first open's description (fork) and so its offset. */
	pid_t child = fork();
	SETUP(child >= 0);
	if (child == 0) {
		wait_for_file("parent_checked");
		if (pwrite(a, "CHILD", 5, 60) != 5 || lseek(a, 4242, SEEK_SET) != 4242)
			_exit(1);
		_exit(0);
	}

	ready();
	wait_for_go();

	check_file(a, SIZE, 12345, "deleted file, first open");
	check_file(c, SIZE, 12345, "deleted file, dup of the first open");
	check_file(b, SIZE, 777, "deleted file, second open");
	check_file(t, TMP_SIZE, 100, "O_TMPFILE file");
	check_content(a, SIZE, 11, "deleted file");
	check_content(t, TMP_SIZE, 12, "O_TMPFILE file");
	check_dir(a, cwd, "deleted file");
	check_dir(t, cwd, "O_TMPFILE file");
	if (fcntl(a, F_GETFL) != flags_a || fcntl(b, F_GETFL) != flags_b ||
	    fcntl(app, F_GETFL) != flags_app || fcntl(t, F_GETFL) != flags_t)
		fail("status flags changed: %#o %#o %#o %#o, expected %#o %#o %#o %#o",
		     fcntl(a, F_GETFL), fcntl(b, F_GETFL), fcntl(app, F_GETFL), fcntl(t, F_GETFL),
		     flags_a, flags_b, flags_app, flags_t);

	struct stat sa, sb, sapp;
	SETUP(fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && fstat(app, &sapp) == 0);
	if (sa.st_ino != sb.st_ino || sa.st_ino != sapp.st_ino || sa.st_dev != sb.st_dev)
		fail("the opens of the deleted file are no longer one inode (%lu, %lu, %lu)",
		     (unsigned long)sa.st_ino, (unsigned long)sb.st_ino, (unsigned long)sapp.st_ino);

	/* The dup shares the offset; the second open does not. */
	SETUP(lseek(c, 2000, SEEK_SET) == 2000);
	if (lseek(a, 0, SEEK_CUR) != 2000)
		fail("the dup no longer shares its offset with the first open");
	if (lseek(b, 0, SEEK_CUR) != 777)
		fail("the second open moved with the first: they share one description");

	/* Writes through one open are read through the other. */
	if (pwrite(a, "ZZZ", 3, 50) != 3)
		fail("pwrite through the first open: %s", strerror(errno));
	char got[4] = { 0 };
	if (pread(b, got, 3, 50) != 3 || memcmp(got, "ZZZ", 3) != 0)
		fail("the second open reads \"%s\" where the first wrote \"ZZZ\"", got);
	/* The child writes and moves the offset of the description it shares. */
	int marker = open("parent_checked", O_CREAT | O_WRONLY, 0644);
	SETUP(marker >= 0 && close(marker) == 0);
	int status;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("child did not exit 0 (status %#x)", status);
	char word[6] = { 0 };
	if (pread(b, word, 5, 60) != 5 || memcmp(word, "CHILD", 5) != 0)
		fail("the child's write through its inherited fd reads back as \"%s\"", word);
	if (lseek(a, 0, SEEK_CUR) != 4242)
		fail("the child's lseek did not move the parent's offset: not one description");

	if (write(app, "END", 3) != 3)
		fail("append through the O_APPEND open: %s", strerror(errno));
	memset(got, 0, sizeof(got));
	if (pread(b, got, 3, SIZE) != 3 || memcmp(got, "END", 3) != 0)
		fail("the O_APPEND open did not append at the end (read \"%s\")", got);
	return finish();
}
