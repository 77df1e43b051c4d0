/* IPv4/IPv6 sockets that are not connected keep their addresses and options:
 * a UDP socket bound to a port, a second one connected to it, a TCP socket
 * only bound, a TCP listener with SO_REUSEADDR, TCP_NODELAY and keepalive
 * settings, and an IPv6-only listener. After restore each has the same
 * address; the connected UDP socket still sends to the bound one, and both
 * listeners accept a new connection. */
#include "scenario.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static int bound_socket(int family, int type, struct sockaddr_storage *addr, socklen_t *len)
{
	int s = socket(family, type, 0);
	SETUP(s >= 0);
	memset(addr, 0, sizeof(*addr));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)addr;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)addr;
		int one = 1;
		SETUP(setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == 0);
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		*len = sizeof(*a);
	}
	SETUP(bind(s, (struct sockaddr *)addr, *len) == 0);
	SETUP(getsockname(s, (struct sockaddr *)addr, len) == 0);
	return s;
}

static void same_address(const char *what, int s, struct sockaddr_storage *before, socklen_t len)
{
	struct sockaddr_storage now;
	socklen_t n = sizeof(now);
	if (getsockname(s, (struct sockaddr *)&now, &n) != 0 || n != len || memcmp(&now, before, len))
		fail("%s: its address changed", what);
}

static int option(int s, int level, int name)
{
	int v = -1;
	socklen_t n = sizeof(v);
	getsockopt(s, level, name, &v, &n);
	return v;
}

static void accepts(const char *what, int listener, struct sockaddr_storage *addr, socklen_t len)
{
	int c = socket(addr->ss_family, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)addr, len) != 0) {
		fail("%s: cannot connect to it: %s", what, strerror(errno));
		return;
	}
	int a = accept(listener, NULL, NULL);
	if (a < 0 || write(c, "hi", 2) != 2) {
		fail("%s: accept/write failed: %s", what, strerror(errno));
		return;
	}
	char buf[2];
	if (read(a, buf, 2) != 2 || memcmp(buf, "hi", 2))
		fail("%s: the accepted connection does not carry data", what);
	close(a);
	close(c);
}

int main(void)
{
	struct sockaddr_storage udp_addr, tcp_addr, listen_addr, listen6_addr;
	socklen_t udp_len, tcp_len, listen_len, listen6_len;
	int udp = bound_socket(AF_INET, SOCK_DGRAM, &udp_addr, &udp_len);
	int sender = socket(AF_INET, SOCK_DGRAM, 0);
	SETUP(sender >= 0 && connect(sender, (struct sockaddr *)&udp_addr, udp_len) == 0);
	int tcp_bound = bound_socket(AF_INET, SOCK_STREAM, &tcp_addr, &tcp_len);
	int listener = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1, idle = 77;
	SETUP(setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0);
	SETUP(setsockopt(listener, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0);
	SETUP(setsockopt(listener, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) == 0);
	SETUP(setsockopt(listener, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) == 0);
	close(listener);
	listener = bound_socket(AF_INET, SOCK_STREAM, &listen_addr, &listen_len);
	SETUP(setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0);
	SETUP(setsockopt(listener, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0);
	SETUP(setsockopt(listener, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) == 0);
	SETUP(setsockopt(listener, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) == 0);
	SETUP(listen(listener, 16) == 0);
	int listener6 = bound_socket(AF_INET6, SOCK_STREAM, &listen6_addr, &listen6_len);
	SETUP(listen(listener6, 8) == 0);
	ready();
	wait_for_go();

	same_address("the bound UDP socket", udp, &udp_addr, udp_len);
	same_address("the bound TCP socket", tcp_bound, &tcp_addr, tcp_len);
	same_address("the listener", listener, &listen_addr, listen_len);
	same_address("the IPv6 listener", listener6, &listen6_addr, listen6_len);
	if (send(sender, "datagram", 8, 0) != 8)
		fail("the connected UDP socket cannot send: %s", strerror(errno));
	char buf[16] = { 0 };
	if (recv(udp, buf, sizeof(buf), 0) != 8 || strcmp(buf, "datagram"))
		fail("the bound UDP socket did not get the datagram");
	if (option(listener, SOL_SOCKET, SO_REUSEADDR) != 1 ||
	    option(listener, IPPROTO_TCP, TCP_NODELAY) != 1 ||
	    option(listener, SOL_SOCKET, SO_KEEPALIVE) != 1 ||
	    option(listener, IPPROTO_TCP, TCP_KEEPIDLE) != 77)
		fail("the listener lost its options");
	if (option(listener, SOL_SOCKET, SO_ACCEPTCONN) != 1)
		fail("the listener does not listen");
	if (option(listener6, IPPROTO_IPV6, IPV6_V6ONLY) != 1)
		fail("the IPv6 listener lost IPV6_V6ONLY");
	if (option(tcp_bound, SOL_SOCKET, SO_ACCEPTCONN) != 0)
		fail("the bound TCP socket listens");
	accepts("the listener", listener, &listen_addr, listen_len);
	accepts("the IPv6 listener", listener6, &listen6_addr, listen6_len);
	if (listen(tcp_bound, 1) != 0)
		fail("the bound TCP socket cannot listen: %s", strerror(errno));
	return finish();
}
