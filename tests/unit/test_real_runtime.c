/* runtime-real's own pieces: argument and key-file parsing, the bounded
 * output buffer, the reactor's timers and file events. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../runtime-real/config.h"
#include "../../runtime-real/conn.h"
#include "../../runtime-real/loop.h"

/* ---- config ------------------------------------------------------------ */

Test(real_config, hostport_parses_name_address_and_bracketed_ipv6)
{
	add_hostport hp;
	char err[256];

	cr_assert_eq(add_parse_hostport("localhost:5400", &hp, err, sizeof(err)), 0);
	cr_assert_str_eq(hp.host, "localhost");
	cr_assert_eq(hp.port, 5400);
	cr_assert_eq(add_parse_hostport("[::1]:7", &hp, err, sizeof(err)), 0);
	cr_assert_str_eq(hp.host, "::1");
	cr_assert_eq(hp.port, 7);
}

Test(real_config, hostport_rejects_missing_or_bad_port_and_empty_host)
{
	add_hostport hp;
	char err[256];

	cr_assert_eq(add_parse_hostport("localhost", &hp, err, sizeof(err)), -1);
	cr_assert_eq(add_parse_hostport("h:0", &hp, err, sizeof(err)), -1);
	cr_assert_eq(add_parse_hostport("h:65536", &hp, err, sizeof(err)), -1);
	cr_assert_eq(add_parse_hostport("h:12x", &hp, err, sizeof(err)), -1);
	cr_assert_eq(add_parse_hostport(":80", &hp, err, sizeof(err)), -1);
	cr_assert_eq(add_parse_hostport("[::1:80", &hp, err, sizeof(err)), -1);
	cr_assert(strstr(err, "[::1:80") != NULL, "the error names the input: %s", err);
}

Test(real_config, peer_list_keeps_order_and_rejects_empty_entries)
{
	add_hostport *list = NULL;
	size_t n = 0;
	char err[256];

	cr_assert_eq(add_parse_peer_list("a:1,b:2,c:3", &list, &n, err, sizeof(err)), 0);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(list[2].host, "c");
	cr_assert_eq(list[1].port, 2);
	free(list);
	cr_assert_eq(add_parse_peer_list("a:1,,c:3", &list, &n, err, sizeof(err)), -1);
	cr_assert_eq(add_parse_peer_list("", &list, &n, err, sizeof(err)), -1);
}

Test(real_config, peer_list_ignores_blanks_around_entries)
{
	add_hostport *list = NULL;
	size_t n = 0;
	char err[256];

	cr_assert_eq(add_parse_peer_list("a:1, b:2 ,\tc:3", &list, &n, err, sizeof(err)), 0);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(list[1].host, "b");
	cr_assert_str_eq(list[2].host, "c");
	cr_assert_eq(list[2].port, 3);
	free(list);
	cr_assert_eq(add_parse_peer_list("a:1, ,c:3", &list, &n, err, sizeof(err)), -1);
}

Test(real_config, u64_honours_bounds_and_rejects_signs_and_junk)
{
	uint64_t v;

	cr_assert_eq(add_parse_u64("2097152", 1, 2097152, &v), 0);
	cr_assert_eq(v, 2097152);
	cr_assert_eq(add_parse_u64("2097153", 1, 2097152, &v), -1);
	cr_assert_eq(add_parse_u64("0", 1, 10, &v), -1);
	cr_assert_eq(add_parse_u64("-1", 0, 10, &v), -1);
	cr_assert_eq(add_parse_u64("+1", 0, 10, &v), -1);
	cr_assert_eq(add_parse_u64("1k", 0, 10000, &v), -1);
	cr_assert_eq(add_parse_u64("", 0, 10, &v), -1);
}

static char *key_file(const char *content, mode_t mode)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/add-key-XXXXXX");
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	cr_assert_eq(chmod(path, mode), 0);
	return path;
}

Test(real_config, key_file_reads_hex_of_either_case_with_trailing_newline)
{
	char hex[70];
	uint8_t key[32];
	bool loose = true;
	char err[256];

	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, i % 2 ? "%02x" : "%02X", (unsigned)(i * 7 + 0xa0) & 0xff);
	strcat(hex, "\n");
	char *p = key_file(hex, 0600);
	cr_assert_eq(add_read_key_file(p, key, sizeof(key), &loose, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_not(loose);
	for (int i = 0; i < 32; i++)
		cr_assert_eq(key[i], (uint8_t)(i * 7 + 0xa0));
	unlink(p);
}

Test(real_config, key_file_of_wrong_length_or_not_hex_is_refused_by_name)
{
	uint8_t key[32];
	bool loose;
	char err[256];
	char buf[80];

	memset(buf, 'a', 62);
	buf[62] = '\0';
	char *p = key_file(buf, 0600);
	cr_assert_eq(add_read_key_file(p, key, sizeof(key), &loose, err, sizeof(err)), -1);
	cr_assert(strstr(err, p) != NULL, "names the file: %s", err);
	unlink(p);
	memset(buf, 'a', 66);
	buf[66] = '\0';
	p = key_file(buf, 0600);
	cr_assert_eq(add_read_key_file(p, key, sizeof(key), &loose, err, sizeof(err)), -1);
	unlink(p);
	memset(buf, 'a', 64);
	buf[10] = 'g';
	buf[64] = '\0';
	p = key_file(buf, 0600);
	cr_assert_eq(add_read_key_file(p, key, sizeof(key), &loose, err, sizeof(err)), -1);
	unlink(p);
	cr_assert_eq(add_read_key_file("/nonexistent/key", key, sizeof(key), &loose, err,
				       sizeof(err)), -1);
}

Test(real_config, key_file_readable_by_others_is_flagged)
{
	char buf[80];
	uint8_t key[32];
	bool loose = false;
	char err[256];

	memset(buf, '0', 64);
	buf[64] = '\0';
	char *p = key_file(buf, 0644);
	cr_assert_eq(add_read_key_file(p, key, sizeof(key), &loose, err, sizeof(err)), 0);
	cr_assert(loose);
	unlink(p);
}

/* ---- output buffer ------------------------------------------------------ */

Test(real_outbuf, refuses_a_message_that_would_exceed_the_bound_whole)
{
	add_outbuf ob;
	uint8_t msg[4096] = {1};

	add_outbuf_init(&ob, 10000);
	cr_assert(add_outbuf_append(&ob, msg, sizeof(msg)));
	cr_assert(add_outbuf_append(&ob, msg, sizeof(msg)));
	cr_assert_not(add_outbuf_append(&ob, msg, sizeof(msg)));
	cr_assert_eq(add_outbuf_pending(&ob), 8192);
	add_outbuf_free(&ob);
}

Test(real_outbuf, flush_sends_everything_in_order_and_reports_a_full_socket)
{
	int sv[2];
	add_outbuf ob;
	static uint8_t msg[100000], got[100000];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 31);
	add_outbuf_init(&ob, 1 << 24);
	for (int k = 0; k < 40; k++)
		cr_assert(add_outbuf_append(&ob, msg, sizeof(msg)));
	/* 4 MB does not fit a socket buffer: the flush stops with bytes left. */
	cr_assert_eq(add_outbuf_flush(&ob, sv[0]), 1);
	cr_assert_gt(add_outbuf_pending(&ob), 0);
	size_t total = 0;
	for (int rounds = 0; rounds < 100000 && add_outbuf_pending(&ob) > 0; rounds++) {
		ssize_t n = read(sv[1], got, sizeof(got));
		if (n > 0) {
			for (ssize_t i = 0; i < n; i++)
				cr_assert_eq(got[i], msg[(total + (size_t)i) % sizeof(msg)]);
			total += (size_t)n;
		}
		cr_assert_geq(add_outbuf_flush(&ob, sv[0]), 0);
	}
	cr_assert_eq(add_outbuf_pending(&ob), 0);
	add_outbuf_free(&ob);
	close(sv[0]);
	close(sv[1]);
}

Test(real_outbuf, flush_to_a_closed_peer_is_an_error)
{
	int sv[2];
	add_outbuf ob;
	uint8_t msg[64] = {0};

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	close(sv[1]);
	add_outbuf_init(&ob, 1024);
	cr_assert(add_outbuf_append(&ob, msg, sizeof(msg)));
	cr_assert_lt(add_outbuf_flush(&ob, sv[0]), 0);
	add_outbuf_free(&ob);
	close(sv[0]);
}

/* ---- loop --------------------------------------------------------------- */

typedef struct loop_log {
	int order[8];
	int n;
	int sleeps;
	int reads;
} loop_log;

static loop_log ll;

static uint64_t timer_a(add_loop *loop, uint64_t id, void *arg)
{
	(void)loop;
	(void)id;
	ll.order[ll.n++] = (int)(intptr_t)arg;
	return ADD_TIMER_STOP;
}

static uint64_t timer_stop(add_loop *loop, uint64_t id, void *arg)
{
	(void)id;
	(void)arg;
	add_loop_stop(loop);
	return ADD_TIMER_STOP;
}

static uint64_t timer_repeat(add_loop *loop, uint64_t id, void *arg)
{
	(void)loop;
	(void)id;
	(void)arg;
	ll.order[ll.n++] = 9;
	return ll.n < 4 ? 1000000 : ADD_TIMER_STOP;
}

static void before_sleep(add_loop *loop, void *arg)
{
	(void)loop;
	(void)arg;
	ll.sleeps++;
}

Test(real_loop, timers_fire_in_deadline_order_and_repeat_until_stopped)
{
	add_loop *loop = add_loop_create(64);

	memset(&ll, 0, sizeof(ll));
	cr_assert_neq(add_loop_add_timer(loop, 20000000, timer_a, (void *)2), 0);
	cr_assert_neq(add_loop_add_timer(loop, 5000000, timer_a, (void *)1), 0);
	uint64_t dead = add_loop_add_timer(loop, 10000000, timer_a, (void *)7);
	add_loop_del_timer(loop, dead);
	cr_assert_neq(add_loop_add_timer(loop, 40000000, timer_stop, NULL), 0);
	add_loop_set_before_sleep(loop, before_sleep, NULL);
	uint64_t t0 = add_now_ns();
	cr_assert_eq(add_loop_run(loop), 0);
	cr_assert_geq(add_now_ns() - t0, 40000000);
	cr_assert_eq(ll.n, 2);
	cr_assert_eq(ll.order[0], 1);
	cr_assert_eq(ll.order[1], 2);
	cr_assert_geq(ll.sleeps, 3);
	add_loop_destroy(loop);

	loop = add_loop_create(64);
	memset(&ll, 0, sizeof(ll));
	add_loop_add_timer(loop, 0, timer_repeat, NULL);
	add_loop_add_timer(loop, 30000000, timer_stop, NULL);
	add_loop_run(loop);
	cr_assert_eq(ll.n, 4);
	add_loop_destroy(loop);
}

static void on_readable(add_loop *loop, int fd, void *arg, uint32_t events)
{
	char buf[16];
	(void)arg;
	cr_assert(events & ADD_LOOP_READABLE);
	cr_assert_eq(read(fd, buf, sizeof(buf)), 3);
	ll.reads++;
	add_loop_stop(loop);
}

Test(real_loop, a_readable_fd_calls_its_callback_and_a_zero_mask_silences_it)
{
	add_loop *loop = add_loop_create(64);
	int sv[2];

	memset(&ll, 0, sizeof(ll));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	cr_assert_eq(add_loop_add_fd(loop, sv[0], 0, on_readable, NULL), 0);
	cr_assert_eq(write(sv[1], "abc", 3), 3);
	add_loop_add_timer(loop, 20000000, timer_stop, NULL);
	add_loop_run(loop);
	cr_assert_eq(ll.reads, 0, "an fd with mask 0 was reported");
	cr_assert_eq(add_loop_set_mask(loop, sv[0], ADD_LOOP_READABLE), 0);
	add_loop_run(loop);
	cr_assert_eq(ll.reads, 1);
	add_loop_del_fd(loop, sv[0]);
	close(sv[0]);
	close(sv[1]);
	add_loop_destroy(loop);
}
