/* Register state that is live at the moment of the checkpoint survives it:
 * vector registers (zmm0-31 and opmask k1-k7 with AVX-512, else ymm0-15 with
 * AVX, else xmm0-15), r12-r15, MXCSR, the x87 control word and the TLS base.
 *
 * The patterns are loaded by one asm block that then prints READY itself
 * (write(2) preserves all of them) and spins on a flag without touching them,
 * so they are live in the registers whenever the dump happens. The harness
 * says "go" with SIGUSR1, whose handler sets the flag (the kernel saves and
 * restores the interrupted registers around a handler). */
#include "scenario.h"
#include <signal.h>
#include <stddef.h>

struct area {
	uint8_t vin[32][64];
	uint8_t vout[32][64];
	uint64_t kin[8];
	uint64_t kout[8];
	uint64_t gin[4]; /* r12..r15 */
	uint64_t gout[4];
	char msg[8];
} __attribute__((aligned(64)));

static struct area A;
static volatile int go_flag;
static __thread uint64_t tls_var = 0x7151715171517151ull;

static void on_usr1(int sig)
{
	(void)sig;
	go_flag = 1;
}

#define OFFSETS                                                                          \
	[vin] "i"(offsetof(struct area, vin)), [vout] "i"(offsetof(struct area, vout)),   \
	[kin] "i"(offsetof(struct area, kin)), [kout] "i"(offsetof(struct area, kout)),   \
	[gin] "i"(offsetof(struct area, gin)), [gout] "i"(offsetof(struct area, gout)),   \
	[msg] "i"(offsetof(struct area, msg))

#define LOAD_GPRS                                                                        \
	"movq 0+%c[gin](%[a]), %%r12\n\t"                                                \
	"movq 8+%c[gin](%[a]), %%r13\n\t"                                                \
	"movq 16+%c[gin](%[a]), %%r14\n\t"                                               \
	"movq 24+%c[gin](%[a]), %%r15\n\t"
#define STORE_GPRS                                                                       \
	"movq %%r12, 0+%c[gout](%[a])\n\t"                                               \
	"movq %%r13, 8+%c[gout](%[a])\n\t"                                               \
	"movq %%r14, 16+%c[gout](%[a])\n\t"                                              \
	"movq %%r15, 24+%c[gout](%[a])\n\t"
/* write(1, A.msg, 6); then spin until go_flag != 0. Clobbers rax rcx rdx rsi rdi r11. */
#define READY_AND_SPIN                                                                   \
	"movl $1, %%eax\n\t"                                                             \
	"movl $1, %%edi\n\t"                                                             \
	"leaq %c[msg](%[a]), %%rsi\n\t"                                                  \
	"movl $6, %%edx\n\t"                                                             \
	"syscall\n\t"                                                                    \
	"1: pause\n\t"                                                                   \
	"cmpl $0, %[flag]\n\t"                                                           \
	"je 1b\n\t"
#define SYSCALL_CLOBBERS "rax", "rcx", "rdx", "rsi", "rdi", "r11", "r12", "r13", "r14", "r15", "memory", "cc"

#define EIGHT(M, a, b, c, d, e, f, g, h) M(a) M(b) M(c) M(d) M(e) M(f) M(g) M(h)

__attribute__((target("avx512f"), noinline)) static void hold_zmm(void)
{
#define LZ(n) "vmovdqu64 " #n "*64+%c[vin](%[a]), %%zmm" #n "\n\t"
#define SZ(n) "vmovdqu64 %%zmm" #n ", " #n "*64+%c[vout](%[a])\n\t"
#define LK(n) "kmovw " #n "*8+%c[kin](%[a]), %%k" #n "\n\t"
#define SK(n) "kmovw %%k" #n ", " #n "*8+%c[kout](%[a])\n\t"
	__asm__ volatile(
		EIGHT(LZ, 0, 1, 2, 3, 4, 5, 6, 7) EIGHT(LZ, 8, 9, 10, 11, 12, 13, 14, 15)
		EIGHT(LZ, 16, 17, 18, 19, 20, 21, 22, 23) EIGHT(LZ, 24, 25, 26, 27, 28, 29, 30, 31)
		LK(1) LK(2) LK(3) LK(4) LK(5) LK(6) LK(7)
		LOAD_GPRS READY_AND_SPIN STORE_GPRS
		EIGHT(SZ, 0, 1, 2, 3, 4, 5, 6, 7) EIGHT(SZ, 8, 9, 10, 11, 12, 13, 14, 15)
		EIGHT(SZ, 16, 17, 18, 19, 20, 21, 22, 23) EIGHT(SZ, 24, 25, 26, 27, 28, 29, 30, 31)
		SK(1) SK(2) SK(3) SK(4) SK(5) SK(6) SK(7)
		:
		: [a] "r"(&A), [flag] "m"(go_flag), OFFSETS
		: SYSCALL_CLOBBERS, "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
		  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16",
		  "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25",
		  "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k1", "k2", "k3", "k4", "k5",
		  "k6", "k7");
}

__attribute__((target("avx"), noinline)) static void hold_ymm(void)
{
#define LY(n) "vmovdqu " #n "*64+%c[vin](%[a]), %%ymm" #n "\n\t"
#define SY(n) "vmovdqu %%ymm" #n ", " #n "*64+%c[vout](%[a])\n\t"
	__asm__ volatile(
		EIGHT(LY, 0, 1, 2, 3, 4, 5, 6, 7) EIGHT(LY, 8, 9, 10, 11, 12, 13, 14, 15)
		LOAD_GPRS READY_AND_SPIN STORE_GPRS
		EIGHT(SY, 0, 1, 2, 3, 4, 5, 6, 7) EIGHT(SY, 8, 9, 10, 11, 12, 13, 14, 15)
		:
		: [a] "r"(&A), [flag] "m"(go_flag), OFFSETS
		: SYSCALL_CLOBBERS, "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
		  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

__attribute__((noinline)) static void hold_xmm(void)
{
#define LX(n) "movdqu " #n "*64+%c[vin](%[a]), %%xmm" #n "\n\t"
#define SX(n) "movdqu %%xmm" #n ", " #n "*64+%c[vout](%[a])\n\t"
	__asm__ volatile(
		EIGHT(LX, 0, 1, 2, 3, 4, 5, 6, 7) EIGHT(LX, 8, 9, 10, 11, 12, 13, 14, 15)
		LOAD_GPRS READY_AND_SPIN STORE_GPRS
		EIGHT(SX, 0, 1, 2, 3, 4, 5, 6, 7) EIGHT(SX, 8, 9, 10, 11, 12, 13, 14, 15)
		:
		: [a] "r"(&A), [flag] "m"(go_flag), OFFSETS
		: SYSCALL_CLOBBERS, "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
		  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

static uint64_t fs_self(void)
{
	uint64_t p;
	__asm__ volatile("movq %%fs:0, %0" : "=r"(p));
	return p;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);

	int nvec, vbytes;
	void (*hold)(void);
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f")) {
		nvec = 32, vbytes = 64, hold = hold_zmm;
	} else if (__builtin_cpu_supports("avx")) {
		say("SKIP zmm/k registers: AVX-512F not supported, checking ymm0-15\n");
		nvec = 16, vbytes = 32, hold = hold_ymm;
	} else {
		say("SKIP zmm/ymm registers: AVX not supported, checking xmm0-15\n");
		nvec = 16, vbytes = 16, hold = hold_xmm;
	}
	for (int r = 0; r < 32; r++)
		fill_pattern(A.vin[r], 64, 0x100 + r);
	for (int k = 0; k < 8; k++)
		A.kin[k] = 0xa5c3u ^ (uint64_t)(k * 0x1111);
	for (int g = 0; g < 4; g++)
		A.gin[g] = 0x0123456789abcdefull * (uint64_t)(g + 3) ^ 0xfeedfacecafebeefull;
	memcpy(A.msg, "READY\n", 6);

	/* Non-default floating-point control state. */
	uint32_t mxcsr_want = 0x7f80 | 0x6000 | 0x8000; /* masks, round toward zero, FTZ */
	__asm__ volatile("ldmxcsr %0" : : "m"(mxcsr_want));
	uint16_t fcw_want = 0x0c7f; /* all masked, 64-bit precision, round toward zero */
	__asm__ volatile("fldcw %0" : : "m"(fcw_want));
	uint64_t fs_before = fs_self();
	tls_var ^= 0x1234;

	hold();

	uint32_t mxcsr;
	uint16_t fcw;
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(fcw));
	if ((mxcsr & 0xffc0) != mxcsr_want)
		fail("MXCSR is %#x, expected %#x", mxcsr, mxcsr_want);
	if (fcw != fcw_want)
		fail("x87 control word is %#x, expected %#x", fcw, fcw_want);
	if (fs_self() != fs_before)
		fail("TLS base (%%fs:0) is %#llx, expected %#llx", (unsigned long long)fs_self(),
		     (unsigned long long)fs_before);
	if (tls_var != (0x7151715171517151ull ^ 0x1234))
		fail("TLS variable is %#llx", (unsigned long long)tls_var);

	for (int r = 0; r < nvec; r++)
		if (memcmp(A.vin[r], A.vout[r], (size_t)vbytes) != 0) {
			int b = 0;
			while (A.vin[r][b] == A.vout[r][b])
				b++;
			fail("vector register %d (%d bytes): byte %d is %#x, expected %#x", r, vbytes,
			     b, A.vout[r][b], A.vin[r][b]);
		}
	if (vbytes == 64)
		for (int k = 1; k < 8; k++)
			if ((A.kout[k] & 0xffff) != (A.kin[k] & 0xffff))
				fail("opmask k%d is %#llx, expected %#llx", k,
				     (unsigned long long)(A.kout[k] & 0xffff),
				     (unsigned long long)(A.kin[k] & 0xffff));
	for (int g = 0; g < 4; g++)
		if (A.gout[g] != A.gin[g])
			fail("r%d is %#llx, expected %#llx", 12 + g, (unsigned long long)A.gout[g],
			     (unsigned long long)A.gin[g]);
	return finish();
}
