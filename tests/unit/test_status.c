/*
 * The STATUS message (docs/PROTOCOL.md): its command and response framed by
 * the core's codec and decoder byte for byte; its body encoded and decoded
 * field by field; and addctl status's verdicts and exit codes over the
 * cases an operator meets (all up; one down of 3 = bare majority; one down
 * of 5; a majority down; N = 4 with two down; a link missing; damage).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../runtime-real/status.h"
#include "wire.h"
#include "wire_fixture.h"

TestSuite(status, .init = wire_fixture_setup, .fini = wire_fixture_teardown);

static add_status_info sample(uint8_t rank, uint8_t n)
{
	add_status_info s;
	memset(&s, 0, sizeof(s));
	s.rank = rank;
	s.n_procs = n;
	for (unsigned r = 1; r <= n; r++)
		add_status_set_sees(&s, r);
	s.uptime_ms = 123456;
	s.n_sectors = 65536;
	s.sectors_written = 1000;
	s.disk_bytes = 4200000;
	s.disk_bound = 140000000;
	s.checksum_mismatches = 1;
	s.read_errors = 2;
	s.corrupt_records = 3;
	s.suspect_sectors = 4;
	s.repairs = 5;
	s.damaged_now = 0;
	s.damaged_found = 7;
	s.repairs_done = 8;
	s.scrubbed = 9;
	s.ops_completed = 0x0102030405060708ull;
	s.client_slots_used = 3;
	s.scrub_passes = 0x1112131415161718ull;
	s.known = 65536;
	strcpy(s.version, "0.1.0");
	return s;
}

Test(status, command_and_answer_are_framed_by_the_codec_byte_for_byte)
{
	uint8_t cmd[ADD_CMD_READ_SIZE], rsp[ADD_RSP_STATUS_SIZE], body[ADD_STATUS_BODY_SIZE];
	add_client_cmd c = {.type = ADD_TYPE_STATUS, .request = 0x1122334455667788ull};
	add_status_info s = sample(2, 3), back;
	add_wire_decoder d;
	add_wire_msg m;

	cr_assert_eq(add_wire_cmd_size(ADD_TYPE_STATUS), 56);
	cr_assert_eq(add_wire_encode_cmd(&c, &client_key, cmd), 56);
	cr_assert_eq(cmd[7], 0x82);
	add_wire_decoder_init(&d, ADD_WIRE_MODE_PROCESS, &client_key, &system_key);
	cr_assert_eq(add_wire_decoder_feed(&d, cmd, sizeof(cmd), &m), sizeof(cmd));
	cr_assert(m.kind == ADD_WIRE_CMD && m.hmac_ok && m.cmd.type == ADD_TYPE_STATUS);
	cr_assert_eq(m.cmd.request, c.request);
	cr_assert_null(m.cmd.data);

	add_status_encode(&s, body);
	add_client_rsp r = {.type = ADD_TYPE_STATUS_RESPONSE, .status = 0, .request = 9,
			    .data = body};
	cr_assert_eq(add_wire_rsp_size(0xC2, 0), 240);
	cr_assert_eq(add_wire_rsp_size(0xC2, 1), 48);
	cr_assert_eq(add_wire_encode_rsp(&r, &client_key, rsp), 240);
	cr_assert_eq(rsp[6], 0);
	cr_assert_eq(rsp[7], 0xC2);
	cr_assert_eq(rsp[16], 1, "body format");
	cr_assert_eq(rsp[17], 2, "rank");
	cr_assert_eq(rsp[18], 3, "N");
	cr_assert_eq(rsp[20], 0x0e, "ranks 1..3 seen up");
	cr_assert_eq(add_get_be64(rsp + 52), 123456, "uptime at 52");
	cr_assert_eq(add_get_be64(rsp + 68), 1000, "written at 68");
	cr_assert_eq(add_get_be64(rsp + 164), 0x0102030405060708ull, "ops at 164");
	cr_assert_eq(rsp[172], 3, "slots at 172");
	cr_assert_str_eq((const char *)rsp + 176, "0.1.0");
	cr_assert_eq(add_get_be64(rsp + 192), 0x1112131415161718ull, "scrub passes at 192");
	cr_assert_eq(add_get_be64(rsp + 200), 65536, "sectors known at 200");

	/* split anywhere, the client decoder yields it whole */
	for (size_t split = 1; split < sizeof(rsp); split += 37) {
		add_wire_decoder_init(&d, ADD_WIRE_MODE_CLIENT, &client_key, NULL);
		size_t used = add_wire_decoder_feed(&d, rsp, split, &m);
		cr_assert_eq(m.kind, ADD_WIRE_NONE);
		cr_assert_eq(used, split);
		add_wire_decoder_feed(&d, rsp + split, sizeof(rsp) - split, &m);
		cr_assert(m.kind == ADD_WIRE_RSP && m.hmac_ok && m.rsp.type == 0xC2);
		cr_assert_not_null(m.rsp.data);
		cr_assert_eq(add_status_decode(m.rsp.data, &back), 0);
		cr_assert_eq(memcmp(&back, &s, sizeof(s)), 0, "split %zu", split);
	}
}

Test(status, a_failed_status_answer_is_48_bytes)
{
	uint8_t rsp[ADD_RSP_STATUS_SIZE];
	add_client_rsp r = {.type = ADD_TYPE_STATUS_RESPONSE, .status = 1, .request = 9};
	add_wire_decoder d;
	add_wire_msg m;

	cr_assert_eq(add_wire_encode_rsp(&r, &client_key, rsp), 48);
	add_wire_decoder_init(&d, ADD_WIRE_MODE_CLIENT, &client_key, NULL);
	cr_assert_eq(add_wire_decoder_feed(&d, rsp, 48, &m), 48);
	cr_assert(m.kind == ADD_WIRE_RSP && m.rsp.status == 1 && m.rsp.data == NULL);
}

Test(status, an_unknown_body_format_is_refused)
{
	uint8_t body[ADD_STATUS_BODY_SIZE] = {2};
	add_status_info s;
	cr_assert_eq(add_status_decode(body, &s), -1);
}

static add_status_probe probes[5];

static void cluster(unsigned n, unsigned down_mask)
{
	memset(probes, 0, sizeof(probes));
	for (unsigned r = 1; r <= n; r++) {
		probes[r - 1].address = "127.0.0.1:1";
		probes[r - 1].reachable = !(down_mask >> r & 1);
		probes[r - 1].info = sample((uint8_t)r, (uint8_t)n);
		if (!probes[r - 1].reachable)
			strcpy(probes[r - 1].error, "connection refused");
		for (unsigned q = 1; q <= n; q++) /* the live ones see only the live ones */
			if (down_mask >> q & 1)
				probes[r - 1].info.peers_up[q / 8] &= (uint8_t)~(1u << (q % 8));
	}
}

static add_verdict verdict(unsigned n, char *why)
{
	return add_status_verdict(probes, n, why, 256);
}

Test(status, verdicts_and_exit_codes)
{
	char why[256];

	cluster(3, 0);
	cr_assert_eq(verdict(3, why), ADD_VERDICT_HEALTHY);
	cr_assert_str_eq(why, "healthy");

	cluster(3, 1u << 2);
	cr_assert_eq(verdict(3, why), 1);
	cr_assert_str_eq(why, "degraded: rank 2 down; writes on a bare majority");

	cluster(3, 1u << 2 | 1u << 3);
	cr_assert_eq(verdict(3, why), 2);
	cr_assert_str_eq(why, "unavailable: 1 of 3 processes answer, 2 needed");

	cluster(5, 1u << 4);
	cr_assert_eq(verdict(5, why), 1);
	cr_assert_str_eq(why, "degraded: rank 4 down", "4 of 5 is more than a bare majority");

	cluster(5, 1u << 1 | 1u << 5);
	cr_assert_eq(verdict(5, why), 1);
	cr_assert_str_eq(why, "degraded: rank 1 down, rank 5 down; writes on a bare majority");

	cluster(4, 1u << 3 | 1u << 4);
	cr_assert_eq(verdict(4, why), 2, "2 of 4 is no majority");

	cluster(1, 0);
	cr_assert_eq(verdict(1, why), 0);
}

Test(status, a_missing_link_damage_or_a_wrong_rank_is_degraded)
{
	char why[256];

	cluster(3, 0);
	probes[0].info.peers_up[0] &= (uint8_t)~(1u << 3);
	cr_assert_eq(verdict(3, why), 1);
	cr_assert_str_eq(why, "degraded: rank 1 does not see rank 3");

	cluster(3, 0);
	probes[1].info.damaged_now = 4;
	cr_assert_eq(verdict(3, why), 1);
	cr_assert_str_eq(why, "degraded: rank 2 has 4 damaged sectors");

	cluster(3, 0);
	probes[2].info.rank = 1; /* --peers in the wrong order */
	cr_assert_eq(verdict(3, why), 1);
	cr_assert(strstr(why, "answers as rank 1 of 3") != NULL, "%s", why);
}

Test(status, processes_that_answer_but_see_no_majority_are_unavailable)
{
	char why[256];

	cluster(3, 0);
	for (unsigned r = 1; r <= 3; r++) /* each sees only itself */
		memset(probes[r - 1].info.peers_up, 0, sizeof(probes[r - 1].info.peers_up)),
			add_status_set_sees(&probes[r - 1].info, r);
	cr_assert_eq(verdict(3, why), 2);
	cr_assert_str_eq(why, "unavailable: no process is linked to a majority (2 needed, at most 1)");

	cluster(3, 0);
	probes[2].info.peers_up[0] = 1u << 3; /* rank 3 cut off; 1 and 2 still linked */
	probes[0].info.peers_up[0] &= (uint8_t)~(1u << 3);
	probes[1].info.peers_up[0] &= (uint8_t)~(1u << 3);
	cr_assert_eq(verdict(3, why), 1, "%s", why);

	cluster(3, 1u << 3); /* rank 3 unreachable by addctl, but 1 and 2 see it up */
	probes[0].info.peers_up[0] |= 1u << 3;
	probes[1].info.peers_up[0] |= 1u << 3;
	cr_assert_eq(verdict(3, why), 1, "%s", why);
	cr_assert_str_eq(why, "degraded: rank 3 does not answer here (its peers see it up)");
}

Test(status, lines_and_json_say_what_the_operator_needs)
{
	char line[1024];

	cluster(3, 1u << 2);
	add_status_line(&probes[0], 1, line, sizeof(line));
	cr_assert(strncmp(line, "rank 1  127.0.0.1:1  up  member  sees 1,3  written 1000/65536  "
				"disk 4.0 MiB of 133.5 MiB  uptime 123s  v0.1.0  damage now 0",
			  123) == 0, "%s", line);
	add_status_line(&probes[1], 2, line, sizeof(line));
	cr_assert_str_eq(line, "rank 2  127.0.0.1:1  unreachable: connection refused");
	add_status_json(&probes[0], 1, line, sizeof(line));
	cr_assert(strstr(line, "\"peers_up\": [1, 3]") != NULL, "%s", line);
	cr_assert(strstr(line, "\"reachable\": true") != NULL);
	add_status_json(&probes[1], 2, line, sizeof(line));
	cr_assert_str_eq(line, "{\"rank\": 2, \"address\": \"127.0.0.1:1\", \"reachable\": false, "
			       "\"error\": \"connection refused\"}");
}

/* The counters at 192 and 200 (scrub passes, sectors known) go through the
 * body; a recovering process's line shows its re-learning progress, every
 * line the scrub passes. */
Test(status, scrub_passes_and_relearning_progress_are_carried_and_shown)
{
	uint8_t body[ADD_STATUS_BODY_SIZE];
	add_status_info s = sample(1, 3), back;
	char line[1024];

	add_status_encode(&s, body);
	cr_assert_eq(body[192 - 16], 0x11);
	cr_assert_eq(body[199 - 16], 0x18);
	cr_assert_eq(add_status_decode(body, &back), 0);
	cr_assert_eq(back.scrub_passes, s.scrub_passes);
	cr_assert_eq(back.known, 65536);

	cluster(3, 0);
	probes[0].info.scrub_passes = 4;
	add_status_line(&probes[0], 1, line, sizeof(line));
	cr_assert_not_null(strstr(line, "(passes 4)"), "%s", line);
	cr_assert_null(strstr(line, "re-learned"), "a member: %s", line);
	probes[0].info.role = ADD_ROLE_RECOVERING;
	probes[0].info.known = 16384;
	add_status_line(&probes[0], 1, line, sizeof(line));
	cr_assert_not_null(strstr(line, "recovering  sees 1,2,3  re-learned 16384/65536 (25.0%)"),
			   "%s", line);
	add_status_json(&probes[0], 1, line, sizeof(line));
	cr_assert_not_null(strstr(line, "\"scrub_passes\": 4}"), "%s", line);
	cr_assert_not_null(strstr(line, "\"sectors_known\": 16384,"), "%s", line);
}
