/* 32 threads, each with its own state, survive a checkpoint. Every worker
 * sets thread-local variables (initialised .tdata and zeroed .tbss) to its own
 * pattern, names itself "w<i>", blocks its own set of signals, and then counts
 * in a loop: the count in a register or on its stack, in a double (FPU/SSE
 * state) and in a shared array. A quarter of them spin without syscalls, the
 * others sleep 1 ms every 1024 steps, so the dump catches both kinds. Main
 * prints READY once every worker runs.
 *
 * After go, main checks that every shared counter moves again (each thread
 * runs after the restore), that the thread list is the same, then stops the
 * workers with an atomic flag and joins them. Each worker checks, from
 * inside: its tid (gettid) and pthread_self, the address and contents of its
 * TLS (the fs base), its name in /proc/self/task/<tid>/comm, its signal mask,
 * its rseq registration (still the same area: registering it again answers
 * EBUSY) and that its register, FPU and shared counters agree. */
#include "scenario.h"
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/rseq.h>
#include <sys/syscall.h>

#define NTHREADS 32

struct worker {
	int idx;
	pthread_t thread;
	/* Seen by the worker itself before READY. */
	pid_t tid;
	pthread_t self;
	uintptr_t tls_addr;
	void *rseq_area;
	unsigned rseq_len; /* 0: glibc did not register rseq */
	int failures;
};

static struct worker workers[NTHREADS];
static _Atomic uint64_t counters[NTHREADS];
static atomic_int started;
static atomic_int stop;

static __thread uint64_t tls_value;
static __thread char tls_text[32] = "initial .tdata text";
static __thread uint64_t tls_array[64];
static __thread uint32_t tls_untouched = 0xC0FFEE; /* .tdata, never written */

static uint64_t tls_pattern(int idx)
{
	return 0x7153000000000000ull ^ ((uint64_t)(idx + 1) * 0x9E3779B97F4A7C15ull);
}

/* Thread i blocks SIGRTMIN+(i%8), some also SIGUSR1, SIGUSR2 or SIGRTMAX. */
static void worker_mask(int idx, sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGRTMIN + idx % 8);
	if (idx % 3 == 0)
		sigaddset(set, SIGUSR1);
	if (idx % 5 == 0)
		sigaddset(set, SIGUSR2);
	if (idx % 7 == 0)
		sigaddset(set, SIGRTMAX);
}

static void set_to_text(const sigset_t *set, char *buf, size_t cap)
{
	size_t n = 0;
	buf[0] = 0;
	for (int s = 1; s <= SIGRTMAX && n + 8 < cap; s++)
		if (sigismember(set, s) == 1)
			n += (size_t)snprintf(buf + n, cap - n, "%d ", s);
}

static int sets_equal(const sigset_t *a, const sigset_t *b)
{
	for (int s = 1; s <= SIGRTMAX; s++)
		if (sigismember(a, s) != sigismember(b, s))
			return 0;
	return 1;
}

/* The comm of thread `tid` of this process, without the newline. */
static void read_comm(pid_t tid, char *buf, size_t cap)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
	buf[0] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = 0;
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl = 0;
}

static long sys_rseq(void *area, unsigned len, int flags, uint32_t sig)
{
	return syscall(SYS_rseq, area, len, flags, sig);
}

/* "FAIL: w<i> (tid T): ..." from a worker; main adds up the failures. */
__attribute__((format(printf, 2, 3))) static void wfail(struct worker *w, const char *fmt, ...)
{
	char msg[800];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	say("FAIL: w%d (tid %d): %s\n", w->idx, w->tid, msg);
	w->failures++;
}

static void check_self(struct worker *w)
{
	pid_t tid = gettid();
	if (tid != w->tid)
		wfail(w, "gettid() is %d, expected %d", tid, w->tid);
	if (!pthread_equal(pthread_self(), w->self))
		wfail(w, "pthread_self() is %#lx, expected %#lx", (unsigned long)pthread_self(),
		      (unsigned long)w->self);

	if ((uintptr_t)&tls_value != w->tls_addr)
		wfail(w, "the TLS variable moved from %#lx to %p (fs base lost)",
		      (unsigned long)w->tls_addr, (void *)&tls_value);
	uint64_t want = tls_pattern(w->idx);
	if (tls_value != want)
		wfail(w, "TLS value %#llx, expected %#llx", (unsigned long long)tls_value,
		      (unsigned long long)want);
	for (int k = 0; k < 64; k++)
		if (tls_array[k] != want + (uint64_t)k) {
			wfail(w, "TLS array[%d] is %#llx, expected %#llx", k,
			      (unsigned long long)tls_array[k], (unsigned long long)(want + (uint64_t)k));
			break;
		}
	if (tls_untouched != 0xC0FFEE)
		wfail(w, "untouched TLS variable is %#x, expected 0xc0ffee", tls_untouched);
	char text[32];
	snprintf(text, sizeof(text), "thread %d here", w->idx);
	if (strcmp(tls_text, text) != 0)
		wfail(w, "TLS text \"%.31s\", expected \"%s\"", tls_text, text);

	char name[16], comm[64], got[16];
	snprintf(name, sizeof(name), "w%d", w->idx);
	read_comm(w->tid, comm, sizeof(comm));
	if (strcmp(comm, name) != 0)
		wfail(w, "/proc/self/task/%d/comm is \"%s\", expected \"%s\"", w->tid, comm, name);
	if (pthread_getname_np(pthread_self(), got, sizeof(got)) != 0 || strcmp(got, name) != 0)
		wfail(w, "pthread_getname_np gives \"%s\", expected \"%s\"", got, name);

	sigset_t mask, cur;
	worker_mask(w->idx, &mask);
	if (pthread_sigmask(SIG_BLOCK, NULL, &cur) != 0) {
		wfail(w, "pthread_sigmask query failed");
	} else if (!sets_equal(&cur, &mask)) {
		char g[300], e[300];
		set_to_text(&cur, g, sizeof(g));
		set_to_text(&mask, e, sizeof(e));
		wfail(w, "signal mask is { %s}, expected { %s}", g, e);
	}

	if (w->rseq_len) {
		long r = sys_rseq(w->rseq_area, w->rseq_len, 0, RSEQ_SIG);
		int err = errno;
		if (r == 0)
			wfail(w, "rseq was not registered any more (registering it again worked)");
		else if (err != EBUSY)
			wfail(w, "registering rseq again failed with errno %d (%s), expected EBUSY: "
				 "another area, length or signature is registered",
			      err, strerror(err));
	}
}

static void *work(void *arg)
{
	struct worker *w = arg;
	char name[16];
	snprintf(name, sizeof(name), "w%d", w->idx);
	SETUP(pthread_setname_np(pthread_self(), name) == 0);
	sigset_t mask;
	worker_mask(w->idx, &mask);
	SETUP(pthread_sigmask(SIG_SETMASK, &mask, NULL) == 0);

	tls_value = tls_pattern(w->idx);
	for (int k = 0; k < 64; k++)
		tls_array[k] = tls_value + (uint64_t)k;
	snprintf(tls_text, sizeof(tls_text), "thread %d here", w->idx);
	w->tid = gettid();
	w->self = pthread_self();
	w->tls_addr = (uintptr_t)&tls_value;

	/* Which rseq registration glibc made for this thread: the one that
	 * answers EBUSY when registered again. */
	if (__rseq_size > 0) {
		w->rseq_area = (char *)__builtin_thread_pointer() + __rseq_offset;
		unsigned lens[] = { __rseq_size, 32 };
		for (size_t k = 0; k < 2 && !w->rseq_len; k++)
			if (sys_rseq(w->rseq_area, lens[k], 0, RSEQ_SIG) < 0 && errno == EBUSY)
				w->rseq_len = lens[k];
		SETUP(w->rseq_len != 0);
	}
	atomic_fetch_add(&started, 1);

	uint64_t n = 0;
	double half = 0;
	for (;;) {
		n++;
		half += 0.5;
		atomic_store_explicit(&counters[w->idx], n, memory_order_relaxed);
		if ((n & 1023) == 0) {
			if (atomic_load(&stop))
				break;
			if (w->idx % 4 != 0)
				usleep(1000);
		}
	}

	check_self(w);
	uint64_t shared = atomic_load(&counters[w->idx]);
	if (shared != n)
		wfail(w, "shared counter %llu, but the thread counted %llu",
		      (unsigned long long)shared, (unsigned long long)n);
	if (half != (double)n * 0.5)
		wfail(w, "floating-point counter %.1f, expected %.1f (FPU state lost)", half,
		      (double)n * 0.5);
	return NULL;
}

/* Number of entries of /proc/self/task; sets *missing to a saved tid that is
 * not among them (or 0). */
static int list_tasks(pid_t *missing)
{
	int count = 0;
	*missing = 0;
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	char seen[NTHREADS] = { 0 };
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		count++;
		pid_t t = atoi(e->d_name);
		for (int i = 0; i < NTHREADS; i++)
			if (workers[i].tid == t)
				seen[i] = 1;
	}
	closedir(d);
	for (int i = 0; i < NTHREADS; i++)
		if (!seen[i])
			*missing = workers[i].tid;
	return count;
}

int main(void)
{
	/* Main's own mask differs from every worker's. */
	sigset_t main_mask;
	sigemptyset(&main_mask);
	sigaddset(&main_mask, SIGWINCH);
	SETUP(sigprocmask(SIG_SETMASK, &main_mask, NULL) == 0);
	char main_comm[64];
	read_comm(getpid(), main_comm, sizeof(main_comm));

	for (int i = 0; i < NTHREADS; i++) {
		workers[i].idx = i;
		SETUP(pthread_create(&workers[i].thread, NULL, work, &workers[i]) == 0);
	}
	int64_t deadline = now_ns(CLOCK_MONOTONIC) + 10 * 1000000000ll;
	for (;;) {
		int all = atomic_load(&started) == NTHREADS;
		for (int i = 0; all && i < NTHREADS; i++)
			all = atomic_load(&counters[i]) > 0;
		if (all)
			break;
		SETUP(now_ns(CLOCK_MONOTONIC) < deadline);
		usleep(1000);
	}
	pid_t missing;
	SETUP(list_tasks(&missing) == NTHREADS + 1 && missing == 0);
	uint64_t at_ready[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		at_ready[i] = atomic_load(&counters[i]);

	ready();
	wait_for_go();

	uint64_t at_go[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		at_go[i] = atomic_load(&counters[i]);
		if (at_go[i] < at_ready[i])
			fail("w%d: counter went back from %llu at READY to %llu at go", i,
			     (unsigned long long)at_ready[i], (unsigned long long)at_go[i]);
	}
	/* Every worker runs after the restore: its counter moves past the
	 * value seen at go. */
	int moving[NTHREADS] = { 0 }, nmoving = 0;
	deadline = now_ns(CLOCK_MONOTONIC) + 10 * 1000000000ll;
	while (nmoving < NTHREADS && now_ns(CLOCK_MONOTONIC) < deadline) {
		for (int i = 0; i < NTHREADS; i++)
			if (!moving[i] && atomic_load(&counters[i]) > at_go[i]) {
				moving[i] = 1;
				nmoving++;
			}
		usleep(1000);
	}
	for (int i = 0; i < NTHREADS; i++)
		if (!moving[i])
			fail("w%d (tid %d): counter stuck at %llu for 10 s after go", i,
			     workers[i].tid, (unsigned long long)at_go[i]);

	int ntasks = list_tasks(&missing);
	if (ntasks != NTHREADS + 1)
		fail("/proc/self/task lists %d threads, expected %d", ntasks, NTHREADS + 1);
	if (missing)
		fail("thread %d is missing from /proc/self/task", missing);

	char comm[64];
	read_comm(getpid(), comm, sizeof(comm));
	if (strcmp(comm, main_comm) != 0)
		fail("main thread's comm is \"%s\", expected \"%s\"", comm, main_comm);
	sigset_t cur;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	if (!sets_equal(&cur, &main_mask)) {
		char g[300];
		set_to_text(&cur, g, sizeof(g));
		fail("main thread's signal mask is { %s}, expected { %d }", g, SIGWINCH);
	}

	atomic_store(&stop, 1);
	for (int i = 0; i < NTHREADS; i++) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10;
		int r = pthread_timedjoin_np(workers[i].thread, NULL, &until);
		if (r != 0)
			fail("joining w%d (tid %d): %s", i, workers[i].tid, strerror(r));
		else
			scenario_failures += workers[i].failures;
	}
	return finish();
}
