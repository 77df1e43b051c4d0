/* A listening unix socket accepts new connections after restore: argv[1] is
 * "path" (bound to an absolute path in the scenario directory; the socket
 * file the dumped process left behind is replaced) or "abstract" (an
 * abstract name). Before READY a child connects and sends "early", which the
 * parent accepts but does not read; the parent then blocks in accept(). After
 * go the child connects again and sends "late"; the parent accepts it and
 * reads both connections, and both can still answer. */
#include "scenario.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

static struct sockaddr_un addr;
static socklen_t addr_len;

static int connect_to_listener(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, addr_len) != 0)
		return -1;
	return fd;
}

static void read_word(int fd, const char *word, const char *what)
{
	char got[16] = { 0 };
	size_t len = strlen(word), have = 0;
	while (have < len) {
		ssize_t r = recv(fd, got + have, len - have, 0);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	if (have != len || strcmp(got, word) != 0)
		fail("%s: read \"%s\", expected \"%s\"", what, got, word);
}

int main(int argc, char **argv)
{
	SETUP(argc == 2);
	addr.sun_family = AF_UNIX;
	int abstract = strcmp(argv[1], "abstract") == 0;
	if (abstract) {
		int n = snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1,
				 "stasis-test-listener-%d", (int)getpid());
		addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	} else {
		char cwd[64];
		SETUP(getcwd(cwd, sizeof(cwd)) != NULL);
		snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/listen.sock", cwd);
		addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				       strlen(addr.sun_path) + 1);
	}
	int listener = socket(AF_UNIX, SOCK_STREAM, 0);
	SETUP(listener >= 0);
	SETUP(bind(listener, (struct sockaddr *)&addr, addr_len) == 0);
	SETUP(listen(listener, 7) == 0);

	pid_t child = fork();
	SETUP(child >= 0);
	if (child == 0) {
		close(listener);
		int early = connect_to_listener();
		SETUP(early >= 0);
		SETUP(send(early, "early", 5, 0) == 5);
		wait_for_go();
		int late = connect_to_listener();
		if (late < 0) {
			fail("child: connect after restore: %s", strerror(errno));
			_exit(1);
		}
		SETUP(send(late, "late", 4, 0) == 4);
		read_word(late, "hi late", "child, late connection");
		read_word(early, "hi early", "child, early connection");
		_exit(scenario_failures ? 1 : 0);
	}
	int early = accept(listener, NULL, NULL);
	SETUP(early >= 0);
	ready();
	/* Blocked here while dumped and restored. */
	int late = accept(listener, NULL, NULL);
	if (late < 0) {
		fail("accept after restore: %s", strerror(errno));
		return finish();
	}
	read_word(late, "late", "late connection");
	read_word(early, "early", "early connection");
	if (send(late, "hi late", 7, 0) != 7 || send(early, "hi early", 8, 0) != 8)
		fail("answering: %s", strerror(errno));
	struct sockaddr_un bound;
	socklen_t bound_len = sizeof(bound);
	SETUP(getsockname(listener, (struct sockaddr *)&bound, &bound_len) == 0);
	if (bound_len != addr_len || memcmp(&bound, &addr, addr_len) != 0)
		fail("the listener is bound to another name (length %u, expected %u)",
		     (unsigned)bound_len, (unsigned)addr_len);
	if (!abstract) {
		struct stat st;
		if (stat(addr.sun_path, &st) != 0 || !S_ISSOCK(st.st_mode))
			fail("%s is not a socket file", addr.sun_path);
	}
	int status;
	SETUP(waitpid(child, &status, 0) == child);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("the child failed (status %#x)", status);
	return finish();
}
