/* File locks survive a checkpoint, held by the same owner: flock (exclusive on
 * one file, shared on another), OFD locks (write and read ranges) and POSIX
 * record locks of the parent (write and read ranges, taken through an fd that
 * also has a dup; and a read lock on its own executable) and of a child
 * (through the description it shares with the parent). After "go" a checker process that did not exist at the dump probes
 * for conflicts (F_GETLK, F_OFD_GETLK, flock LOCK_NB); then the owners release
 * their locks and the checker must find the file free: the locks were theirs. */
#include "scenario.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

static int getlk(int fd, int cmd, short type, off_t start, off_t len, struct flock *out)
{
	memset(out, 0, sizeof(*out));
	out->l_type = type;
	out->l_whence = SEEK_SET;
	out->l_start = start;
	out->l_len = len;
	return fcntl(fd, cmd, out);
}

/* Probes one range with a POSIX F_GETLK and an OFD F_OFD_GETLK write request;
 * `want` is the lock type expected to conflict (F_UNLCK: none), `want_pid` the
 * owner F_GETLK must report (-1 for an OFD lock). */
static void expect_range(int fd, const char *what, off_t start, off_t len, short want, pid_t want_pid)
{
	struct flock fl;
	if (getlk(fd, F_GETLK, F_WRLCK, start, len, &fl) != 0) {
		fail("%s: F_GETLK: %s", what, strerror(errno));
		return;
	}
	if (fl.l_type != want)
		fail("%s: F_GETLK finds lock type %d, expected %d", what, fl.l_type, want);
	else if (want != F_UNLCK && fl.l_pid != want_pid)
		fail("%s: F_GETLK finds the lock held by pid %d, expected %d", what, fl.l_pid, want_pid);
	if (getlk(fd, F_OFD_GETLK, F_WRLCK, start, len, &fl) != 0) {
		fail("%s: F_OFD_GETLK: %s", what, strerror(errno));
		return;
	}
	if (fl.l_type != want)
		fail("%s: F_OFD_GETLK finds lock type %d, expected %d", what, fl.l_type, want);
}

/* Whether /proc/locks lists a POSIX read lock of `pid` on inode `ino`. */
static int posix_read_lock_listed(pid_t pid, ino_t ino)
{
	FILE *f = fopen("/proc/locks", "r");
	if (!f)
		return 0;
	char line[256];
	int found = 0;
	while (fgets(line, sizeof(line), f)) {
		char kind[16], mode[16], access[16], dev[64];
		int owner;
		/* "1: POSIX  ADVISORY  READ 1234 fe:00:5678 0 0" */
		char *rest = strchr(line, ':');
		if (!rest || sscanf(rest + 1, "%15s %15s %15s %d %63s", kind, mode, access, &owner, dev) != 5)
			continue;
		char *last = strrchr(dev, ':');
		if (strcmp(kind, "POSIX") == 0 && strcmp(access, "READ") == 0 && owner == pid && last &&
		    strtoull(last + 1, NULL, 10) == (unsigned long long)ino)
			found = 1;
	}
	fclose(f);
	return found;
}

static ino_t exe_ino;

/* Runs in a fresh process: 0 if every lock is where `held` says. */
static int checker(int held, pid_t parent, pid_t child)
{
	int fd = open("locked.txt", O_RDWR | O_CLOEXEC);
	int fd_sh = open("shared.txt", O_RDONLY | O_CLOEXEC);
	SETUP(fd >= 0 && fd_sh >= 0);
	const char *phase = held ? "held" : "released";
	char what[128];
	snprintf(what, sizeof(what), "%s: POSIX write lock 0-9 of the parent", phase);
	expect_range(fd, what, 0, 10, held ? F_WRLCK : F_UNLCK, parent);
	snprintf(what, sizeof(what), "%s: POSIX read lock 20-29 of the parent", phase);
	expect_range(fd, what, 20, 10, held ? F_RDLCK : F_UNLCK, parent);
	snprintf(what, sizeof(what), "%s: POSIX write lock 50-59 of the child", phase);
	expect_range(fd, what, 50, 10, held ? F_WRLCK : F_UNLCK, child);
	snprintf(what, sizeof(what), "%s: OFD write lock 100-149", phase);
	expect_range(fd, what, 100, 50, held ? F_WRLCK : F_UNLCK, -1);
	snprintf(what, sizeof(what), "%s: OFD read lock 200-EOF", phase);
	expect_range(fd, what, 5000, 0, held ? F_RDLCK : F_UNLCK, -1);
	/* No lock anywhere else: the ranges came back exact. */
	expect_range(fd, "gap 10-19", 10, 10, F_UNLCK, 0);
	expect_range(fd, "gap 30-49", 30, 20, F_UNLCK, 0);
	expect_range(fd, "gap 150-199", 150, 50, F_UNLCK, 0);
	/* A read lock is compatible with the read locks. */
	struct flock fl;
	if (getlk(fd, F_GETLK, F_RDLCK, 20, 10, &fl) == 0 && fl.l_type != F_UNLCK)
		fail("a read lock on 20-29 conflicts with lock type %d", fl.l_type);

	/* The lock on the executable survives restore opening (and closing) it. */
	if (posix_read_lock_listed(parent, exe_ino) != held)
		fail("%s: /proc/locks %s a POSIX read lock of pid %d on the executable", phase,
		     held ? "lacks" : "still has", parent);

	int ex = flock(fd, LOCK_EX | LOCK_NB);
	if (held && ex == 0)
		fail("held: flock LOCK_EX on locked.txt succeeded: the exclusive flock is gone");
	else if (held && errno != EWOULDBLOCK)
		fail("held: flock LOCK_EX on locked.txt: %s", strerror(errno));
	else if (!held && ex != 0)
		fail("released: flock LOCK_EX on locked.txt: %s", strerror(errno));
	if (flock(fd_sh, LOCK_SH | LOCK_NB) != 0)
		fail("%s: flock LOCK_SH on shared.txt: %s", phase, strerror(errno));
	ex = flock(fd_sh, LOCK_EX | LOCK_NB);
	if (held && ex == 0)
		fail("held: flock LOCK_EX on shared.txt succeeded: the shared flock is gone");
	else if (!held && ex != 0)
		fail("released: flock LOCK_EX on shared.txt: %s", strerror(errno));
	return scenario_failures ? 1 : 0;
}

static void run_checker(int held, pid_t child)
{
	pid_t parent = getpid();
	pid_t c = fork();
	SETUP(c >= 0);
	if (c == 0)
		_exit(checker(held, parent, child));
	int status;
	SETUP(waitpid(c, &status, 0) == c);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		scenario_failures++;
}

static int lock(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	return fcntl(fd, cmd, &fl);
}

int main(void)
{
	static char data[4096];
	int fd_posix = open("locked.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
	SETUP(fd_posix >= 0);
	SETUP(write(fd_posix, data, sizeof(data)) == (ssize_t)sizeof(data));
	int fd_posix_dup = dup(fd_posix);
	SETUP(fd_posix_dup >= 0);
	SETUP(lock(fd_posix, F_SETLK, F_WRLCK, 0, 10) == 0);
	SETUP(lock(fd_posix_dup, F_SETLK, F_RDLCK, 20, 10) == 0);

	int fd_ofd = open("locked.txt", O_RDWR);
	SETUP(fd_ofd >= 0);
	SETUP(lock(fd_ofd, F_OFD_SETLK, F_WRLCK, 100, 50) == 0);
	SETUP(lock(fd_ofd, F_OFD_SETLK, F_RDLCK, 200, 0) == 0);

	int fd_flock = open("locked.txt", O_RDONLY);
	SETUP(fd_flock >= 0);
	SETUP(flock(fd_flock, LOCK_EX | LOCK_NB) == 0);
	int fd_sh = open("shared.txt", O_RDONLY | O_CREAT, 0644);
	SETUP(fd_sh >= 0);
	SETUP(flock(fd_sh, LOCK_SH | LOCK_NB) == 0);

	/* A POSIX lock on the program's own executable (as single-instance
	 * programs take): restore opens and closes the executable in the task. */
	int fd_exe = open("/proc/self/exe", O_RDONLY);
	SETUP(fd_exe >= 0);
	SETUP(lock(fd_exe, F_SETLK, F_RDLCK, 0, 1) == 0);
	struct stat st_exe;
	SETUP(fstat(fd_exe, &st_exe) == 0);
	exe_ino = st_exe.st_ino;

	int to_child[2];
	SETUP(pipe(to_child) == 0);
	pid_t child = fork();
	SETUP(child >= 0);
	if (child == 0) {
		/* Through the description shared with the parent: the lock is the child's. */
		SETUP(lock(fd_posix, F_SETLK, F_WRLCK, 50, 10) == 0);
		close(to_child[1]);
		char c;
		/* Waits for the parent's word to release, after restore. */
		while (read(to_child[0], &c, 1) < 0 && errno == EINTR)
			;
		SETUP(lock(fd_posix, F_SETLK, F_UNLCK, 50, 10) == 0);
		while (read(to_child[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(to_child[0]);
	/* The child's lock is in place before READY. */
	for (;;) {
		struct flock fl;
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		fl.l_start = 50;
		fl.l_len = 10;
		SETUP(fcntl(fd_ofd, F_OFD_GETLK, &fl) == 0);
		if (fl.l_type != F_UNLCK)
			break;
		usleep(1000);
	}

	ready();
	wait_for_go();

	run_checker(1, child);

	/* The owners release; nothing else may still hold the files. */
	SETUP(lock(fd_posix, F_SETLK, F_UNLCK, 0, 0) == 0);
	SETUP(lock(fd_exe, F_SETLK, F_UNLCK, 0, 0) == 0);
	SETUP(lock(fd_ofd, F_OFD_SETLK, F_UNLCK, 0, 0) == 0);
	SETUP(flock(fd_flock, LOCK_UN) == 0);
	SETUP(flock(fd_sh, LOCK_UN) == 0);
	SETUP(write(to_child[1], "u", 1) == 1);
	/* Wait for the child to have released (its lock disappears). */
	for (int i = 0; i < 3000; i++) {
		struct flock fl;
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		fl.l_start = 50;
		fl.l_len = 10;
		SETUP(fcntl(fd_ofd, F_OFD_GETLK, &fl) == 0);
		if (fl.l_type == F_UNLCK)
			break;
		usleep(1000);
	}
	run_checker(0, child);
	close(to_child[1]);
	int status;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("the child ended badly (status %#x)", status);
	return finish();
}
