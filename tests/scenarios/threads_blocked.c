/* Threads blocked in the kernel when the process is dumped stay blocked after
 * the restore, and wake up when (and only when) they are woken:
 *
 *   futex   FUTEX_WAIT (no timeout) on a word         woken by FUTEX_WAKE
 *   cond    pthread_cond_wait                          pthread_cond_signal
 *   mutex   pthread_mutex_lock on a mutex main holds   pthread_mutex_unlock
 *   pipe    read() on an empty pipe                    write() to the pipe
 *   robust  holds a robust mutex, then FUTEX_WAIT      FUTEX_WAKE; it then
 *           ends with a raw exit(2), holding the mutex
 *   spin    never blocks: counts in a loop             an atomic stop flag
 *
 * (epoll_wait has its own scenario, epoll.c.)
 *
 * Main prints READY once every blocked thread sleeps (state S) in the
 * expected syscall, per /proc/self/task/<tid>/stat and .../syscall. After
 * go it checks that nobody has woken up yet and that every one is back asleep
 * in its syscall, then wakes them one by one; each reports the value it found
 * on waking. Each thread checks its tid and that get_robust_list(0) still
 * gives the head glibc registered. Every thread is joined with a timeout:
 * pthread_join waits for the kernel to clear the thread's tid at exit
 * (CLONE_CHILD_CLEARTID), so the joins prove clear_child_tid survived. Last,
 * locking the robust mutex its dead owner left behind must answer
 * EOWNERDEAD: the kernel found it through that thread's robust list, and the
 * futex word held the owner's (unchanged) tid. */
#include "scenario.h"
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>

enum { T_FUTEX, T_COND, T_MUTEX, T_PIPE, T_ROBUST, T_SPIN, NT };
static const char *const names[NT] = { "futex", "cond", "mutex", "pipe", "robust", "spin" };
/* The syscall each one sleeps in (-1: none, it runs). */
static const long blocked_nr[NT] = { SYS_futex, SYS_futex, SYS_futex, SYS_read, SYS_futex, -1 };
/* What each one must find on waking. */
static const uint64_t wake_value[NT] = { 0xF00D, 0xC0DD, 0x3E7E, 0x9199, 0x40B5, 0 };

struct thr {
	int idx;
	pthread_t thread;
	atomic_int tid;
	void *robust_head; /* get_robust_list(0) before READY */
	size_t robust_len;
	atomic_int woke;
	uint64_t value; /* what it found on waking */
	int failures;
};
static struct thr thr[NT];

static uint32_t futex_word, robust_word;
static pthread_mutex_t cond_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int cond_flag;
static uint64_t cond_value;
static pthread_mutex_t held; /* error-checking, locked by main */
static uint64_t held_value;
static pthread_mutex_t robust; /* robust, locked by the robust thread */
static int pipe_fds[2];
static atomic_int stop;
static _Atomic uint64_t spins;

__attribute__((format(printf, 2, 3))) static void tfail(struct thr *t, const char *fmt, ...)
{
	char msg[800];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	say("FAIL: thread %s (tid %d): %s\n", names[t->idx], t->tid, msg);
	t->failures++;
}

static long futex(uint32_t *word, int op, uint32_t val)
{
	return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

static void get_robust(void **head, size_t *len)
{
	*head = NULL;
	*len = 0;
	SETUP(syscall(SYS_get_robust_list, 0, head, len) == 0);
}

/* FUTEX_WAIT until *word is non-zero. Only FUTEX_WAKE may end a wait with 0
 * (and nobody wakes before setting the word); EINTR and EAGAIN loop. */
static void futex_wait_for(struct thr *t, uint32_t *word)
{
	unsigned calls = 0;
	while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == 0) {
		long r = futex(word, FUTEX_WAIT_PRIVATE, 0);
		int err = errno;
		calls++;
		if (r == 0 && __atomic_load_n(word, __ATOMIC_ACQUIRE) == 0) {
			tfail(t, "FUTEX_WAIT returned 0 (woken) but nothing woke it");
			break;
		}
		if (r < 0 && err != EINTR && err != EAGAIN) {
			tfail(t, "FUTEX_WAIT failed: errno %d (%s)", err, strerror(err));
			break;
		}
		if (calls > 50) {
			tfail(t, "FUTEX_WAIT returned more than 50 times");
			break;
		}
	}
	t->value = __atomic_load_n(word, __ATOMIC_ACQUIRE);
}

static void *run(void *arg)
{
	struct thr *t = arg;
	pid_t tid = gettid();
	get_robust(&t->robust_head, &t->robust_len);
	if (t->idx == T_ROBUST)
		SETUP(pthread_mutex_lock(&robust) == 0);
	if (t->idx == T_COND)
		SETUP(pthread_mutex_lock(&cond_lock) == 0);
	atomic_store(&t->tid, tid);

	switch (t->idx) {
	case T_FUTEX:
		futex_wait_for(t, &futex_word);
		break;
	case T_COND:
		while (!cond_flag)
			pthread_cond_wait(&cond, &cond_lock);
		t->value = cond_value;
		pthread_mutex_unlock(&cond_lock);
		break;
	case T_MUTEX: {
		int r = pthread_mutex_lock(&held);
		if (r != 0)
			tfail(t, "pthread_mutex_lock: %s", strerror(r));
		t->value = held_value;
		if (r == 0)
			pthread_mutex_unlock(&held);
		break;
	}
	case T_PIPE: {
		char buf[32] = { 0 };
		ssize_t n;
		unsigned eintr = 0;
		while ((n = read(pipe_fds[0], buf, sizeof(buf) - 1)) < 0 && errno == EINTR && eintr < 50)
			eintr++;
		if (n != 8)
			tfail(t, "read() returned %zd (errno %d), expected 8 bytes", n, n < 0 ? errno : 0);
		else
			t->value = strtoull(buf, NULL, 16);
		break;
	}
	case T_ROBUST:
		futex_wait_for(t, &robust_word);
		break;
	case T_SPIN: {
		uint64_t n = 0;
		while (!atomic_load_explicit(&stop, memory_order_relaxed))
			atomic_store_explicit(&spins, ++n, memory_order_relaxed);
		if (atomic_load(&spins) != n)
			tfail(t, "shared counter %llu, the thread counted %llu",
			      (unsigned long long)atomic_load(&spins), (unsigned long long)n);
		break;
	}
	}
	atomic_store(&t->woke, 1);

	if (gettid() != tid)
		tfail(t, "gettid() is %d, expected %d", gettid(), tid);
	void *head;
	size_t len;
	get_robust(&head, &len);
	if (head == NULL || head != t->robust_head || len != t->robust_len)
		tfail(t, "get_robust_list gives %p (len %zu), expected %p (len %zu)", head, len,
		      t->robust_head, t->robust_len);
	/* The robust thread ends holding `robust`, with a raw exit as if it
	 * were killed: a thread that returns has glibc mark its robust mutexes
	 * itself; this way only the kernel's walk of the thread's robust list
	 * (set_robust_list) marks it OWNER_DIED. */
	if (t->idx == T_ROBUST)
		syscall(SYS_exit, 0);
	return NULL;
}

/* State letter and current syscall (-1 if running or unknown) of a thread. */
static char task_state(pid_t tid, long *nr)
{
	char path[64], buf[512];
	*nr = -1;
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			if (buf[0] >= '0' && buf[0] <= '9')
				*nr = strtol(buf, NULL, 10);
		}
	}
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = 0;
	char *paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' ? paren[2] : '?';
}

/* Waits up to `seconds` for every blocked thread to sleep in its syscall;
 * returns the index of one that does not, or -1. */
static int wait_all_blocked(int seconds, char *state, long *nr)
{
	int64_t deadline = now_ns(CLOCK_MONOTONIC) + (int64_t)seconds * 1000000000;
	for (;;) {
		int laggard = -1;
		for (int i = 0; i < NT && laggard < 0; i++) {
			if (blocked_nr[i] < 0)
				continue;
			*state = task_state(thr[i].tid, nr);
			if (*state != 'S' || *nr != blocked_nr[i])
				laggard = i;
		}
		if (laggard < 0 || now_ns(CLOCK_MONOTONIC) >= deadline)
			return laggard;
		usleep(1000);
	}
}

static void wait_woken(int i)
{
	int64_t deadline = now_ns(CLOCK_MONOTONIC) + 5 * 1000000000ll;
	while (!atomic_load(&thr[i].woke) && now_ns(CLOCK_MONOTONIC) < deadline)
		usleep(1000);
	if (!atomic_load(&thr[i].woke)) {
		long nr;
		char st = task_state(thr[i].tid, &nr);
		fail("thread %s (tid %d) did not wake up within 5 s of being woken (state %c, "
		     "syscall %ld)",
		     names[i], thr[i].tid, st, nr);
	} else if (thr[i].value != wake_value[i]) {
		fail("thread %s woke up with %#llx, expected %#llx", names[i],
		     (unsigned long long)thr[i].value, (unsigned long long)wake_value[i]);
	}
}

int main(void)
{
	pthread_mutexattr_t attr;
	SETUP(pthread_mutexattr_init(&attr) == 0);
	SETUP(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK) == 0);
	SETUP(pthread_mutex_init(&held, &attr) == 0);
	SETUP(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_NORMAL) == 0);
	SETUP(pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0);
	SETUP(pthread_mutex_init(&robust, &attr) == 0);
	SETUP(pipe2(pipe_fds, O_CLOEXEC) == 0);
	SETUP(pthread_mutex_lock(&held) == 0);

	void *main_head;
	size_t main_len;
	get_robust(&main_head, &main_len);
	SETUP(main_head != NULL);

	for (int i = 0; i < NT; i++) {
		thr[i].idx = i;
		SETUP(pthread_create(&thr[i].thread, NULL, run, &thr[i]) == 0);
	}
	int64_t deadline = now_ns(CLOCK_MONOTONIC) + 10 * 1000000000ll;
	for (int i = 0; i < NT; i++)
		while (atomic_load(&thr[i].tid) == 0) {
			SETUP(now_ns(CLOCK_MONOTONIC) < deadline);
			usleep(1000);
		}
	for (int i = 0; i < NT; i++)
		SETUP(thr[i].robust_head != NULL && thr[i].robust_head != main_head);
	char state;
	long nr;
	int laggard = wait_all_blocked(10, &state, &nr);
	if (laggard >= 0)
		say("thread %s is in state %c, syscall %ld\n", names[laggard], state, nr);
	SETUP(laggard < 0);
	while (atomic_load(&spins) == 0)
		usleep(1000);

	ready();
	wait_for_go();

	/* Nobody has woken up, and everyone is asleep in its syscall again. */
	for (int i = 0; i < NT; i++)
		if (i != T_SPIN && atomic_load(&thr[i].woke))
			fail("thread %s woke up before being woken (found %#llx)", names[i],
			     (unsigned long long)thr[i].value);
	laggard = wait_all_blocked(5, &state, &nr);
	if (laggard >= 0)
		fail("thread %s (tid %d) is not asleep in syscall %ld after the restore: state %c, "
		     "syscall %ld",
		     names[laggard], thr[laggard].tid, blocked_nr[laggard], state, nr);

	/* The spinner runs. */
	uint64_t at_go = atomic_load(&spins);
	deadline = now_ns(CLOCK_MONOTONIC) + 10 * 1000000000ll;
	while (atomic_load(&spins) == at_go && now_ns(CLOCK_MONOTONIC) < deadline)
		usleep(1000);
	if (atomic_load(&spins) == at_go)
		fail("the spinning thread's counter is stuck at %llu", (unsigned long long)at_go);

	/* Wake them one by one. */
	__atomic_store_n(&futex_word, (uint32_t)wake_value[T_FUTEX], __ATOMIC_RELEASE);
	futex(&futex_word, FUTEX_WAKE_PRIVATE, 1);
	wait_woken(T_FUTEX);

	pthread_mutex_lock(&cond_lock);
	cond_value = wake_value[T_COND];
	cond_flag = 1;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&cond_lock);
	wait_woken(T_COND);

	held_value = wake_value[T_MUTEX];
	int r = pthread_mutex_unlock(&held);
	if (r != 0)
		fail("main cannot unlock the mutex it holds: %s", strerror(r));
	wait_woken(T_MUTEX);

	char text[16];
	snprintf(text, sizeof(text), "%08llx", (unsigned long long)wake_value[T_PIPE]);
	if (write(pipe_fds[1], text, 8) != 8)
		fail("write to the pipe: %s", strerror(errno));
	wait_woken(T_PIPE);

	__atomic_store_n(&robust_word, (uint32_t)wake_value[T_ROBUST], __ATOMIC_RELEASE);
	futex(&robust_word, FUTEX_WAKE_PRIVATE, 1);
	wait_woken(T_ROBUST);

	atomic_store(&stop, 1);
	wait_woken(T_SPIN);

	/* Joins need the kernel to clear each thread's tid at exit and wake
	 * the futex on it (CLONE_CHILD_CLEARTID, set_tid_address). */
	for (int i = 0; i < NT; i++) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10;
		r = pthread_timedjoin_np(thr[i].thread, NULL, &until);
		if (r != 0)
			fail("joining thread %s (tid %d): %s%s", names[i], thr[i].tid, strerror(r),
			     r == ETIMEDOUT ? " (its clear_child_tid futex was never cleared)" : "");
		else
			scenario_failures += thr[i].failures;
	}

	/* The robust thread died holding `robust`. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	r = pthread_mutex_timedlock(&robust, &until);
	if (r == EOWNERDEAD) {
		pthread_mutex_consistent(&robust);
		pthread_mutex_unlock(&robust);
	} else {
		fail("locking the robust mutex of a dead thread answered %s, expected EOWNERDEAD "
		     "(the thread's robust list or its tid was lost)",
		     r == 0 ? "success" : strerror(r));
	}

	void *head;
	size_t len;
	get_robust(&head, &len);
	if (head != main_head || len != main_len)
		fail("main's get_robust_list gives %p (len %zu), expected %p (len %zu)", head, len,
		     main_head, main_len);
	return finish();
}
