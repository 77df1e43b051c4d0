/* An alternate signal stack survives a checkpoint: sigaltstack() reports the
 * same stack and flags after restore, and a handler installed with SA_ONSTACK
 * runs on it. */
#include "scenario.h"
#include <signal.h>
#include <sys/mman.h>

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1u << 31) /* linux/signal.h; glibc does not define it */
#endif

static volatile uintptr_t handler_sp;
static volatile int handler_runs;

static void on_usr1(int sig)
{
	volatile char local;
	(void)sig;
	handler_sp = (uintptr_t)&local;
	handler_runs++;
}

static int on_alt_stack(const stack_t *st, uintptr_t sp)
{
	return sp >= (uintptr_t)st->ss_sp && sp < (uintptr_t)st->ss_sp + st->ss_size;
}

int main(void)
{
	size_t size = 64 * 1024;
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SETUP(mem != MAP_FAILED);
	stack_t st = { .ss_sp = mem, .ss_size = size, .ss_flags = (int)SS_AUTODISARM };
	SETUP(sigaltstack(&st, NULL) == 0);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_ONSTACK | SA_RESTART;
	SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);

	/* The set-up works before the checkpoint. */
	SETUP(raise(SIGUSR1) == 0);
	SETUP(handler_runs == 1 && on_alt_stack(&st, handler_sp));

	stack_t before;
	SETUP(sigaltstack(NULL, &before) == 0);

	ready();
	wait_for_go();

	stack_t after;
	if (sigaltstack(NULL, &after) != 0)
		fail("sigaltstack(NULL, &old) failed: %s", strerror(errno));
	if (after.ss_sp != before.ss_sp || after.ss_size != before.ss_size ||
	    after.ss_flags != before.ss_flags)
		fail("sigaltstack is {sp %p, size %zu, flags %#x}, expected {sp %p, size %zu, flags %#x}",
		     after.ss_sp, after.ss_size, after.ss_flags, before.ss_sp, before.ss_size,
		     before.ss_flags);
	handler_sp = 0;
	raise(SIGUSR1);
	if (handler_runs != 2)
		fail("the SIGUSR1 handler ran %d times, expected 2", handler_runs);
	else if (!on_alt_stack(&st, handler_sp))
		fail("the SA_ONSTACK handler ran with a local at %#lx, outside the alternate stack %p..%p",
		     (unsigned long)handler_sp, st.ss_sp, (char *)st.ss_sp + st.ss_size);
	return finish();
}
