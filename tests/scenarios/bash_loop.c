/* A real shell: bash runs `while ...; do date; sleep 0.1; done >> file`, forking
 * `date` and `sleep` every iteration, so the dump catches bash with a child.
 * bash counts its iterations in a shell variable and, after go, checks that the
 * count still matches the lines it appended: its memory survived and it carried
 * on. This program only hands over to bash. */
#include "scenario.h"

static const char script[] =
	"n=0\n"
	"after=0\n"
	"while [ ! -e go ] || [ $after -lt 3 ]; do\n"
	"  date +%s%N >> ticks\n"
	"  n=$((n+1))\n"
	"  [ $n = 3 ] && echo READY\n"
	"  [ -e go ] && after=$((after+1))\n"
	"  sleep 0.1\n"
	"done\n"
	"lines=$(wc -l < ticks)\n"
	"if [ \"$n\" -eq \"$lines\" ] && [ \"$n\" -ge 6 ]; then echo PASS; else echo \"FAIL: bash counted $n iterations, ticks has $lines lines\"; exit 1; fi\n";

int main(void)
{
	execl("/bin/bash", "bash", "-c", script, (char *)NULL);
	say("SETUP FAILED: exec bash: %s\n", strerror(errno));
	return 2;
}
