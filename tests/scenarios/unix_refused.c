/* Sockets stasis refuses to checkpoint; the dump must name them (fd 42) and
 * leave the process running unchanged. argv[1]:
 *   outside   connected to a listener of a process outside the tree (an
 *             orphaned grandchild), which echoes what it reads
 *   pending   a listener with a connection not accepted yet, from a client
 *             outside the tree
 *   fds       a socketpair whose queue holds an fd in flight (SCM_RIGHTS)
 *   netlink   an AF_NETLINK socket
 * After go the socket still works as before. */
#include "scenario.h"
#include <fcntl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/netlink.h>

static struct sockaddr_un addr;
static socklen_t addr_len;

static void abstract_name(const char *what)
{
	addr.sun_family = AF_UNIX;
	int n = snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "stasis-test-%s-%d", what,
			 (int)getpid());
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int listener(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	SETUP(fd >= 0);
	SETUP(bind(fd, (struct sockaddr *)&addr, addr_len) == 0);
	SETUP(listen(fd, 4) == 0);
	return fd;
}

static int client(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	SETUP(fd >= 0);
	SETUP(connect(fd, (struct sockaddr *)&addr, addr_len) == 0);
	return fd;
}

static void send_fd(int sock, int fd)
{
	char data = 'F';
	struct iovec iov = { &data, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr msg = { 0 };
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof(control.buf);
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	SETUP(sendmsg(sock, &msg, 0) == 1);
}

static int receive_fd(int sock)
{
	char data;
	struct iovec iov = { &data, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr msg = { 0 };
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof(control.buf);
	if (recvmsg(sock, &msg, MSG_DONTWAIT) != 1)
		return -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

int main(int argc, char **argv)
{
	SETUP(argc == 2);
	const char *kind = argv[1];
	int other = -1;
	if (strcmp(kind, "outside") == 0) {
		abstract_name("outside");
		pid_t child = fork();
		SETUP(child >= 0);
		if (child == 0) {
			/* The grandchild, orphaned at once, is outside our tree. */
			int l = listener();
			if (fork() != 0)
				_exit(0);
			int c = accept(l, NULL, NULL);
			char ch;
			while (read(c, &ch, 1) == 1)
				(void)!write(c, &ch, 1);
			_exit(0);
		}
		SETUP(waitpid(child, NULL, 0) == child);
		SETUP(dup2(client(), 42) == 42);
	} else if (strcmp(kind, "pending") == 0) {
		abstract_name("pending");
		SETUP(dup2(listener(), 42) == 42);
		int sv[2];
		SETUP(pipe(sv) == 0);
		pid_t child = fork();
		SETUP(child >= 0);
		if (child == 0) {
			/* The grandchild, orphaned at once, is outside our tree. */
			if (fork() != 0)
				_exit(0);
			int c = client();
			SETUP(write(sv[1], "c", 1) == 1);
			char ch;
			/* Until the connection is accepted and closed. */
			while (read(c, &ch, 1) > 0)
				;
			_exit(0);
		}
		SETUP(waitpid(child, NULL, 0) == child);
		char ch;
		SETUP(read(sv[0], &ch, 1) == 1);
		close(sv[0]);
		close(sv[1]);
	} else if (strcmp(kind, "fds") == 0) {
		int sv[2];
		SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
		SETUP(dup2(sv[1], 42) == 42);
		other = sv[0];
		int devnull = open("/dev/null", O_RDONLY);
		SETUP(devnull >= 0);
		send_fd(other, devnull);
		close(devnull);
	} else if (strcmp(kind, "netlink") == 0) {
		int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
		SETUP(fd >= 0);
		SETUP(dup2(fd, 42) == 42);
	} else {
		SETUP(!"unknown case");
	}
	ready();
	wait_for_go();
	if (strcmp(kind, "outside") == 0) {
		char got[5] = { 0 };
		if (write(42, "ping", 4) != 4 || recv(42, got, 4, MSG_WAITALL) != 4 ||
		    strcmp(got, "ping") != 0)
			fail("the outsider no longer echoes: read \"%s\"", got);
	} else if (strcmp(kind, "pending") == 0) {
		int c = accept(42, NULL, NULL);
		if (c < 0)
			fail("the waiting connection cannot be accepted: %s", strerror(errno));
		close(c);
	} else if (strcmp(kind, "fds") == 0) {
		int fd = receive_fd(42);
		if (fd < 0 || fcntl(fd, F_GETFD) < 0)
			fail("the fd in flight was lost");
	} else {
		struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
		if (bind(42, (struct sockaddr *)&nl, sizeof(nl)) != 0)
			fail("the netlink socket no longer binds: %s", strerror(errno));
	}
	return finish();
}
