/* Files under /proc survive, reopened in the restored tree (the cases of the
 * Linux-CR discussion):
 *   - A holds /proc/self/status (half read: the offset must survive), /proc/self/maps,
 *     /proc/thread-self/comm, /proc/self/fd (a directory) and /proc/sys/kernel/pid_max;
 *   - B, A's child, holds /proc/B/fdinfo/55 at a low fd, so in fd order it would be
 *     opened before fd 55 exists;
 *   - A holds /proc/B/fdinfo/44 while B holds /proc/B/fdinfo/55.
 * After restore each reads its files and checks they describe the restored tasks
 * and fds (B moves its fd 55 and sees the change through its fdinfo file). */
#include "scenario.h"
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* A second thread of A opens its own /proc/thread-self/status; after restore
 * the file must still describe that thread (Pid: is its tid). */
static int thread_status = -1;
static pid_t thread_tid;
static pthread_barrier_t opened;

static void *thread_main(void *arg)
{
	(void)arg;
	thread_tid = (pid_t)syscall(SYS_gettid);
	thread_status = open("/proc/thread-self/status", O_RDONLY);
	pthread_barrier_wait(&opened);
	for (;;)
		pause();
	return NULL;
}

static long read_at(int fd, off_t off, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, off);
	buf[n > 0 ? n : 0] = 0;
	return n;
}

/* The value of "key:\t<number>" in a /proc text file read through fd. */
static long field(int fd, const char *key)
{
	char buf[4096];
	if (read_at(fd, 0, buf, sizeof(buf)) <= 0)
		return -1;
	char *p = strstr(buf, key);
	if (!p)
		return -1;
	return strtol(p + strlen(key), NULL, 0);
}

static int child(int ready_w)
{
	int data = open("data-b", O_RDWR | O_CREAT, 0600);
	SETUP(data >= 0 && dup2(data, 55) == 55 && close(data) == 0);
	SETUP(lseek(55, 77, SEEK_SET) == 77);
	int info55 = open("/proc/self/fdinfo/55", O_RDONLY);
	SETUP(info55 >= 0 && info55 < 55);
	int other = open("data-a", O_RDWR | O_CREAT | O_APPEND, 0600);
	SETUP(other >= 0 && dup2(other, 44) == 44 && close(other) == 0);
	SETUP(lseek(44, 123, SEEK_SET) == 123);
	SETUP(write(ready_w, "b", 1) == 1);
	close(ready_w);

	wait_for_go();
	if (field(info55, "pos:") != 77)
		fail("B: /proc/self/fdinfo/55 shows pos %ld, expected 77", field(info55, "pos:"));
	SETUP(lseek(55, 99, SEEK_SET) == 99);
	if (field(info55, "pos:") != 99)
		fail("B: after a seek fdinfo/55 shows pos %ld, expected 99 (not the live fd?)",
		     field(info55, "pos:"));
	/* A reads our fdinfo/44 meanwhile: stay until it is done. */
	wait_for_file("a-done");
	return scenario_failures ? 1 : 0;
}

int main(void)
{
	int sync[2];
	SETUP(pipe(sync) == 0);
	pid_t b = fork();
	SETUP(b >= 0);
	if (b == 0) {
		close(sync[0]);
		_exit(child(sync[1]));
	}
	close(sync[1]);
	char c;
	SETUP(read(sync[0], &c, 1) == 1);
	close(sync[0]);

	int status = open("/proc/self/status", O_RDONLY);
	char head[6] = { 0 };
	SETUP(status >= 0 && read(status, head, 5) == 5 && strcmp(head, "Name:") == 0);
	int maps = open("/proc/self/maps", O_RDONLY);
	int comm = open("/proc/thread-self/comm", O_RDONLY);
	int fd_dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
	int pid_max = open("/proc/sys/kernel/pid_max", O_RDONLY);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/44", b);
	int info44 = open(path, O_RDONLY);
	SETUP(maps >= 0 && comm >= 0 && fd_dir >= 0 && pid_max >= 0 && info44 >= 0);
	pthread_t thread;
	SETUP(pthread_barrier_init(&opened, NULL, 2) == 0);
	SETUP(pthread_create(&thread, NULL, thread_main, NULL) == 0);
	pthread_barrier_wait(&opened);
	SETUP(thread_status >= 0);
	char before_comm[64];
	SETUP(read_at(comm, 0, before_comm, sizeof(before_comm)) > 0);
	char before_max[32];
	SETUP(read_at(pid_max, 0, before_max, sizeof(before_max)) > 0);

	ready();
	wait_for_go();

	/* The offset survived: the next byte after "Name:" is the tab. */
	char next = 0;
	if (read(status, &next, 1) != 1 || next != '\t')
		fail("A: /proc/self/status did not continue after \"Name:\" (got %d)", next);
	if (field(status, "Pid:") != getpid())
		fail("A: /proc/self/status shows pid %ld, expected %d", field(status, "Pid:"),
		     getpid());
	if (field(status, "PPid:") != getppid())
		fail("A: /proc/self/status shows ppid %ld, expected %d", field(status, "PPid:"),
		     getppid());
	if (field(thread_status, "Pid:") != thread_tid)
		fail("A: the thread's /proc/thread-self/status shows pid %ld, expected its tid %d",
		     field(thread_status, "Pid:"), thread_tid);
	char buf[65536];
	if (read_at(maps, 0, buf, sizeof(buf)) <= 0 || !strstr(buf, "proc_files"))
		fail("A: /proc/self/maps does not show the program");
	if (read_at(comm, 0, buf, sizeof(buf)) <= 0 || strcmp(buf, before_comm) != 0)
		fail("A: /proc/thread-self/comm reads \"%s\", before \"%s\"", buf, before_comm);
	char after_max[32];
	if (read_at(pid_max, 0, after_max, sizeof(after_max)) <= 0 || strcmp(before_max, after_max))
		fail("A: /proc/sys/kernel/pid_max reads \"%s\", before \"%s\"", after_max, before_max);

	/* The fd directory lists this process's fds: the fdinfo file's is there. */
	DIR *dir = fdopendir(dup(fd_dir));
	int seen = 0;
	for (struct dirent *d; dir && (d = readdir(dir));)
		if (atoi(d->d_name) == info44)
			seen = 1;
	if (!seen)
		fail("A: /proc/self/fd does not list fd %d", info44);

	/* A's window on B's fd 44: B's offset 123, B's O_APPEND. */
	if (field(info44, "pos:") != 123)
		fail("A: /proc/%d/fdinfo/44 shows pos %ld, expected 123", b, field(info44, "pos:"));
	/* flags are printed in octal with a leading 0, which strtol(base 0) reads. */
	long flags = field(info44, "flags:");
	if (flags < 0 || !(flags & O_APPEND))
		fail("A: /proc/%d/fdinfo/44 flags %lo lack O_APPEND", b, flags);

	int done = open("a-done", O_CREAT | O_WRONLY, 0600);
	SETUP(done >= 0);
	close(done);
	int st = 0;
	if (waitpid(b, &st, 0) != b || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("A: child B ended with status %#x", st);
	return finish();
}
