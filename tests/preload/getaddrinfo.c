// SPDX-License-Identifier: MIT
/*
 * getaddrinfo.c - name resolution, which glibc does with its own internal
 * socket calls (no hook sees them), so a fiber runtime runs it elsewhere:
 * "localhost" from /etc/hosts, numeric hosts and services, the EAI_* errors,
 * NTHREADS threads resolving at once, a lookup that fails through DNS, and a
 * connection made to what was resolved.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "preload.h"

#define NTHREADS	64
#define ROUNDS		10
#define NSLOW		8

static const char *eai_name(int e)
{
	switch (e) {
	case 0:			return "0";
	case EAI_NONAME:	return "EAI_NONAME";
	case EAI_AGAIN:		return "EAI_AGAIN";
	case EAI_FAIL:		return "EAI_FAIL";
	case EAI_SERVICE:	return "EAI_SERVICE";
	case EAI_BADFLAGS:	return "EAI_BADFLAGS";
	case EAI_FAMILY:	return "EAI_FAMILY";
	case EAI_SOCKTYPE:	return "EAI_SOCKTYPE";
	case EAI_NODATA:	return "EAI_NODATA";
	case EAI_SYSTEM:	return "EAI_SYSTEM";
	default:		return "EAI_?";
	}
}

/* "addr:port" of every result, in the order returned, or the error. */
static void show(const char *what, const char *host, const char *serv,
		 int family, int flags)
{
	struct addrinfo hints = {
		.ai_family = family,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = flags,
	}, *res, *ai;
	int r = getaddrinfo(host, serv, &hints, &res);

	printf("%s:", what);
	if (r) {
		printf(" %s\n", eai_name(r));
		return;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		char h[NI_MAXHOST], s[NI_MAXSERV];

		CHECK_EQ(getnameinfo(ai->ai_addr, ai->ai_addrlen, h, sizeof(h),
				     s, sizeof(s),
				     NI_NUMERICHOST | NI_NUMERICSERV), 0);
		printf(ai->ai_family == AF_INET6 ? " [%s]:%s" : " %s:%s", h, s);
	}
	printf("\n");
	freeaddrinfo(res);
}

static bool has_loopback_v4(const char *host)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	bool found = false;

	if (getaddrinfo(host, "80", &hints, &res))
		return false;
	for (ai = res; ai; ai = ai->ai_next) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ai->ai_addr;

		if (ai->ai_family == AF_INET &&
		    sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK))
			found = true;
	}
	freeaddrinfo(res);
	return found;
}

static void *resolver(void *arg)
{
	int ok = 0;

	(void)arg;
	for (int i = 0; i < ROUNDS; i++)
		ok += has_loopback_v4(i % 2 ? "localhost" : "127.0.0.1");
	return (void *)(intptr_t)ok;
}

static void *slow_resolver(void *arg)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int r = getaddrinfo("weft-preload-test.invalid", "80", &hints, &res);

	(void)arg;
	if (!r)
		freeaddrinfo(res);
	return (void *)(intptr_t)(r != 0);
}

static void test_threads(void)
{
	pthread_t t[NTHREADS], slow[NSLOW];
	int ok = 0, failed = 0;

	for (int i = 0; i < NSLOW; i++)
		slow[i] = spawn(slow_resolver, NULL);
	for (int i = 0; i < NTHREADS; i++)
		t[i] = spawn(resolver, NULL);
	for (int i = 0; i < NTHREADS; i++)
		ok += (intptr_t)join(t[i]);
	for (int i = 0; i < NSLOW; i++)
		failed += (intptr_t)join(slow[i]);
	printf("%d threads x %d lookups of localhost/127.0.0.1: %d found "
	       "127.0.0.1\n", NTHREADS, ROUNDS, ok);
	printf("%d lookups of a .invalid name at the same time: %d failed\n",
	       NSLOW, failed);
}

static void test_connect(void)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	struct addrinfo hints = {
		.ai_family = AF_INET,
		.ai_socktype = SOCK_STREAM,
	}, *res;
	socklen_t len = sizeof(addr);
	char port[16];
	int lfd, fd, s;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(lfd >= 0);
	CHECK_EQ(bind(lfd, (struct sockaddr *)&addr, len), 0);
	CHECK_EQ(getsockname(lfd, (struct sockaddr *)&addr, &len), 0);
	CHECK_EQ(listen(lfd, 1), 0);
	snprintf(port, sizeof(port), "%d", ntohs(addr.sin_port));
	CHECK_EQ(getaddrinfo("localhost", port, &hints, &res), 0);
	fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
	CHECK(fd >= 0);
	CHECK_EQ(connect(fd, res->ai_addr, res->ai_addrlen), 0);
	freeaddrinfo(res);
	s = accept(lfd, NULL, NULL);
	CHECK(s >= 0);
	CHECK_EQ(write(fd, "hi", 2), 2);
	printf("connect to resolved localhost: accepted, read %zd\n",
	       read(s, port, sizeof(port)));
	close(s);
	close(fd);
	close(lfd);
}

int main(void)
{
	preload_init();
	/* Bound a lookup that reaches no DNS server: 1 s, one try. */
	setenv("RES_OPTIONS", "timeout:1 attempts:1", 1);

	show("localhost, AF_INET", "localhost", "8080", AF_INET, 0);
	printf("localhost, AF_UNSPEC, has 127.0.0.1: %s\n",
	       yesno(has_loopback_v4("localhost")));
	show("127.0.0.1, AI_NUMERICHOST", "127.0.0.1", "80", AF_UNSPEC,
	     AI_NUMERICHOST);
	show("::1, AI_NUMERICHOST", "::1", "443", AF_UNSPEC, AI_NUMERICHOST);
	show("192.0.2.7, numeric service", "192.0.2.7", "443", AF_INET,
	     AI_NUMERICHOST | AI_NUMERICSERV);
	show("service name http", "127.0.0.1", "http", AF_INET, 0);
	show("NULL host, AI_PASSIVE", NULL, "9", AF_INET, AI_PASSIVE);
	show("NULL host", NULL, "9", AF_INET, 0);
	show("not numeric, AI_NUMERICHOST", "localhost", "80", AF_UNSPEC,
	     AI_NUMERICHOST);
	show("service not numeric, AI_NUMERICSERV", "127.0.0.1", "http",
	     AF_INET, AI_NUMERICSERV);
	show("NULL host and service", NULL, NULL, AF_INET, 0);
	show("AI_CANONNAME without a host", NULL, "80", AF_INET, AI_CANONNAME);
	show("family 12345", "127.0.0.1", "80", 12345, 0);
	test_threads();
	test_connect();
	printf("done\n");
	return 0;
}
