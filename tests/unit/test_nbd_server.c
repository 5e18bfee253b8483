/* Unit tests of runtime-real/nbd_server's address rule: NBD has no
 * authentication, so only loopback is served without --nbd-allow-remote. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "../../runtime-real/nbd_server.h"

static bool v4(const char *a)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	in->sin_family = AF_INET;
	cr_assert_eq(inet_pton(AF_INET, a, &in->sin_addr), 1);
	return add_nbd_addr_is_loopback(&ss);
}

static bool v6(const char *a)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *in = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	in->sin6_family = AF_INET6;
	cr_assert_eq(inet_pton(AF_INET6, a, &in->sin6_addr), 1);
	return add_nbd_addr_is_loopback(&ss);
}

Test(nbd_server, loopback_addresses_are_loopback)
{
	cr_assert(v4("127.0.0.1"));
	cr_assert(v4("127.1.2.3"));
	cr_assert(v6("::1"));
	cr_assert(v6("::ffff:127.0.0.1"));
}

Test(nbd_server, other_addresses_are_not)
{
	cr_assert(!v4("0.0.0.0"));
	cr_assert(!v4("10.0.0.1"));
	cr_assert(!v4("128.0.0.1"));
	cr_assert(!v6("::"));
	cr_assert(!v6("::ffff:10.0.0.1"));
	cr_assert(!v6("fe80::1"));
}

Test(nbd_server, create_refuses_a_remote_address_without_allow_remote)
{
	add_hostport hp = {.host = "10.1.2.3", .port = 10809};
	char err[256] = "";

	/* refused before any socket, loop or node is needed */
	cr_assert_null(add_nbd_server_create(&hp, false, 8, NULL, NULL, err, sizeof(err)));
	cr_assert(strstr(err, "--nbd-allow-remote") != NULL, "%s", err);
}
