/* runtime-sim/scenario: the scenario file parser. See scenario.h and
 * scenarios/README.md. */
#include "scenario.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000ull

void add_scenario_defaults(add_scenario *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "unnamed");
	s->nodes = 3;
	s->sectors = 64;
	s->clients = 4;
	s->concurrency = 4;
	s->ops = 2000;
	s->read_ratio = 0.5;
	s->duration_ns = 60000 * MS;
	s->client_timeout_ns = 5000 * MS;
	s->think_ns_max = 2 * MS;
	s->liveness_ns = 10000 * MS;
	s->settle_ns = 1000 * MS;
	s->quiesce_ns = 2000 * MS;
	s->checkpoint_idle_ns = 300 * MS;
	s->journal_max_bytes = 256 * 1024; /* small: checkpoints under load too */
	s->latency_min_ns = 50000; /* 50 us */
	s->latency_max_ns = 1 * MS;
	s->reconnect_min_ns = 10 * MS;
	s->reconnect_max_ns = 100 * MS;
	s->flush_min_ns = 100000; /* 100 us */
	s->flush_max_ns = 3 * MS;
	s->reorder_max_ns = 50 * MS;
	s->down_min_ns = 200 * MS;
	s->down_max_ns = 3000 * MS;
	s->pause_min_ns = 50 * MS;
	s->pause_max_ns = 1000 * MS;
	s->max_down = -1;
	s->split = 0.1;
	s->crash_mode = 0;
	s->disk_full_min_ns = 200 * MS;
	s->disk_full_max_ns = 2000 * MS;
	s->repair_time_ns = 10000 * MS;
	s->rot_files = (1u << ADD_SCN_N_STORE_FILES) - 1;
	s->expect_liveness = true;
}

typedef struct parser {
	int line;
	char *err;
	size_t err_len;
} parser;

static int fail(parser *p, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->err_len, "line %d: %s", p->line, msg);
	return -1;
}

/* "250ms", "2s", "300us", "10ns", or a bare number of milliseconds. */
static int parse_time(parser *p, const char *tok, uint64_t *out)
{
	if (!tok)
		return fail(p, "missing time");
	char *end;
	errno = 0;
	double v = strtod(tok, &end);
	if (end == tok || errno || v < 0)
		return fail(p, "bad time '%s'", tok);
	double mult = (double)MS;
	if (strcmp(end, "ns") == 0)
		mult = 1;
	else if (strcmp(end, "us") == 0)
		mult = 1000;
	else if (strcmp(end, "ms") == 0 || *end == '\0')
		mult = (double)MS;
	else if (strcmp(end, "s") == 0)
		mult = 1e9;
	else
		return fail(p, "bad time unit in '%s' (ns, us, ms, s)", tok);
	*out = (uint64_t)(v * mult + 0.5);
	return 0;
}

static int parse_u64(parser *p, const char *tok, uint64_t lo, uint64_t hi, uint64_t *out)
{
	if (!tok)
		return fail(p, "missing number");
	char *end;
	errno = 0;
	unsigned long long v = strtoull(tok, &end, 10);
	if (end == tok || *end || errno || v < lo || v > hi)
		return fail(p, "expected an integer in [%llu, %llu], got '%s'",
			    (unsigned long long)lo, (unsigned long long)hi, tok);
	*out = v;
	return 0;
}

static int parse_prob(parser *p, const char *tok, double hi, double *out)
{
	if (!tok)
		return fail(p, "missing number");
	char *end;
	errno = 0;
	double v = strtod(tok, &end);
	if (end == tok || *end || errno || v < 0 || v > hi)
		return fail(p, "expected a number in [0, %g], got '%s'", hi, tok);
	*out = v;
	return 0;
}

static int parse_node(parser *p, const add_scenario *s, const char *tok, uint8_t *out)
{
	uint64_t v;
	if (parse_u64(p, tok, 1, s->nodes, &v))
		return -1;
	*out = (uint8_t)v;
	return 0;
}

/* "1,2|3" or "1|2|3,4,5": groups of ranks separated by '|'. */
static int parse_groups(parser *p, const add_scenario *s, const char *tok, add_scn_event *e)
{
	if (!tok)
		return fail(p, "partition needs groups, e.g. 1,2|3");
	uint8_t group = 1;
	const char *c = tok;
	while (*c) {
		if (*c == '|') {
			group++;
			c++;
			continue;
		}
		if (*c == ',') {
			c++;
			continue;
		}
		if (!isdigit((unsigned char)*c))
			return fail(p, "bad partition '%s'", tok);
		char *end;
		unsigned long r = strtoul(c, &end, 10);
		c = end;
		if (r < 1 || r > s->nodes)
			return fail(p, "rank %lu out of range in '%s'", r, tok);
		if (e->group[r])
			return fail(p, "rank %lu twice in '%s'", r, tok);
		e->group[r] = group;
	}
	if (group < 2)
		return fail(p, "a partition needs at least two groups ('|')");
	return 0;
}

static int parse_at(parser *p, add_scenario *s, char **tok, int ntok)
{
	if (s->n_events == ADD_SCN_EVENTS_MAX)
		return fail(p, "too many timeline events (max %d)", ADD_SCN_EVENTS_MAX);
	add_scn_event e = {0};
	if (ntok < 3)
		return fail(p, "expected: at TIME ACTION [ARGS]");
	if (parse_time(p, tok[1], &e.at_ns))
		return -1;
	const char *a = tok[2];
	const char *arg = ntok > 3 ? tok[3] : NULL;
	if (!strcmp(a, "crash")) {
		e.action = ADD_SCN_CRASH;
		if (parse_node(p, s, arg, &e.node))
			return -1;
	} else if (!strcmp(a, "wipe")) {
		e.action = ADD_SCN_WIPE;
		if (parse_node(p, s, arg, &e.node))
			return -1;
	} else if (!strcmp(a, "restart")) {
		e.action = ADD_SCN_RESTART;
		if (parse_node(p, s, arg, &e.node))
			return -1;
	} else if (!strcmp(a, "crash_all")) {
		e.action = ADD_SCN_CRASH_ALL;
	} else if (!strcmp(a, "restart_all")) {
		e.action = ADD_SCN_RESTART_ALL;
	} else if (!strcmp(a, "partition")) {
		e.action = ADD_SCN_PARTITION;
		if (parse_groups(p, s, arg, &e))
			return -1;
	} else if (!strcmp(a, "ring")) {
		e.action = ADD_SCN_RING;
	} else if (!strcmp(a, "isolate")) {
		e.action = ADD_SCN_ISOLATE;
		if (parse_node(p, s, arg, &e.node))
			return -1;
	} else if (!strcmp(a, "cut")) {
		/* "cut 2-3" */
		e.action = ADD_SCN_CUT;
		char pair[32];
		snprintf(pair, sizeof(pair), "%s", arg ? arg : "");
		char *dash = strchr(pair, '-');
		if (!dash)
			return fail(p, "expected: cut A-B");
		*dash = '\0';
		if (parse_node(p, s, pair, &e.node) || parse_node(p, s, dash + 1, &e.node2))
			return -1;
		if (e.node == e.node2)
			return fail(p, "cut needs two different nodes");
	} else if (!strcmp(a, "heal")) {
		e.action = ADD_SCN_HEAL;
	} else if (!strcmp(a, "pause")) {
		e.action = ADD_SCN_PAUSE;
		if (parse_node(p, s, arg, &e.node) ||
		    parse_time(p, ntok > 4 ? tok[4] : NULL, &e.duration_ns))
			return -1;
	} else if (!strcmp(a, "fail_flush")) {
		e.action = ADD_SCN_FAIL_FLUSH;
		if (parse_node(p, s, arg, &e.node))
			return -1;
	} else if (!strcmp(a, "break_links")) {
		e.action = ADD_SCN_BREAK_LINKS;
	} else if (!strcmp(a, "chaos_off")) {
		e.action = ADD_SCN_CHAOS_OFF;
	} else if (!strcmp(a, "flip") || !strcmp(a, "read_error")) {
		/* flip N [FILE OFFSET [BIT]] / read_error N [FILE OFFSET [LEN]] */
		bool flip = !strcmp(a, "flip");
		e.action = flip ? ADD_SCN_FLIP : ADD_SCN_READ_ERROR;
		if (parse_node(p, s, arg, &e.node))
			return -1;
		e.len = ADD_SCN_READ_ERROR_LEN;
		if (ntok > 4) {
			if (strlen(tok[4]) >= sizeof(e.file))
				return fail(p, "file name '%s' too long", tok[4]);
			snprintf(e.file, sizeof(e.file), "%s", tok[4]);
			if (parse_u64(p, ntok > 5 ? tok[5] : NULL, 0, UINT64_MAX / 2, &e.offset))
				return -1;
			uint64_t v = flip ? 0 : ADD_SCN_READ_ERROR_LEN;
			if (ntok > 6 && parse_u64(p, tok[6], flip ? 0 : 1, flip ? 7 : 1u << 24, &v))
				return -1;
			if (flip)
				e.bit = (uint8_t)v;
			else
				e.len = v;
		}
	} else if (!strcmp(a, "lose_file")) {
		/* lose_file N FILE */
		e.action = ADD_SCN_LOSE_FILE;
		if (parse_node(p, s, arg, &e.node))
			return -1;
		if (ntok < 5 || strlen(tok[4]) >= sizeof(e.file))
			return fail(p, "expected: lose_file N FILE (a store file name)");
		snprintf(e.file, sizeof(e.file), "%s", tok[4]);
	} else if (!strcmp(a, "disk_full")) {
		e.action = ADD_SCN_DISK_FULL;
		if (parse_node(p, s, arg, &e.node) ||
		    parse_time(p, ntok > 4 ? tok[4] : NULL, &e.duration_ns))
			return -1;
	} else if (!strcmp(a, "recovery_crash")) {
		e.action = ADD_SCN_RECOVERY_CRASH;
		if (parse_node(p, s, arg, &e.node))
			return -1;
		uint64_t count = 2;
		if (ntok > 4 && parse_u64(p, tok[4], 1, 100, &count))
			return -1;
		e.count = (uint32_t)count;
	} else {
		return fail(p, "unknown action '%s'", a);
	}
	/* Keep the timeline sorted (stable for equal times). */
	size_t i = s->n_events;
	while (i > 0 && s->events[i - 1].at_ns > e.at_ns) {
		s->events[i] = s->events[i - 1];
		i--;
	}
	s->events[i] = e;
	s->n_events++;
	return 0;
}

static int parse_rate(parser *p, add_scenario *s, const char *what, const char *val)
{
	struct {
		const char *name;
		double *dst;
		double max;
	} rates[] = {
		{"drop", &s->drop, 1},
		{"duplicate", &s->duplicate, 1},
		{"reorder", &s->reorder, 1},
		{"corrupt", &s->corrupt, 1},
		{"split", &s->split, 1},
		{"bad_cmd", &s->bad_cmd, 1},
		{"conn_break_per_s", &s->conn_break_per_s, 1000},
		{"crash_per_s", &s->crash_per_s, 1000},
		{"wipe_per_s", &s->wipe_per_s, 1000},
		{"partition_per_s", &s->partition_per_s, 1000},
		{"pause_per_s", &s->pause_per_s, 1000},
		{"flush_fail_per_s", &s->flush_fail_per_s, 1000},
		{"rot_per_s", &s->rot_per_s, 1000},
		{"read_error_per_s", &s->read_error_per_s, 1000},
		{"disk_full_per_s", &s->disk_full_per_s, 1000},
		{"recovery_crash", &s->recovery_crash, 1},
		{"oneway", &s->oneway, 1},
	};
	if (!what)
		return fail(p, "expected: rate NAME VALUE");
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++)
		if (!strcmp(what, rates[i].name))
			return parse_prob(p, val, rates[i].max, rates[i].dst);
	return fail(p, "unknown rate '%s'", what);
}

/* Key without a trailing "_ms" (so "duration_ms 20000" and "duration 20s"
 * both work; a bare number is milliseconds anyway). */
static bool key_is(const char *key, const char *name)
{
	size_t n = strlen(name);
	return strncmp(key, name, n) == 0 && (key[n] == '\0' || strcmp(key + n, "_ms") == 0);
}

static int parse_line(parser *p, add_scenario *s, char **tok, int ntok)
{
	const char *k = tok[0];
	const char *v = ntok > 1 ? tok[1] : NULL;
	uint64_t u;
	if (!strcmp(k, "name")) {
		if (!v)
			return fail(p, "name needs a value");
		snprintf(s->name, sizeof(s->name), "%s", v);
	} else if (!strcmp(k, "nodes")) {
		if (parse_u64(p, v, 1, ADD_SCN_NODES_MAX, &u))
			return -1;
		if (s->n_events)
			return fail(p, "'nodes' must come before the timeline");
		s->nodes = (uint8_t)u;
	} else if (!strcmp(k, "sectors")) {
		if (parse_u64(p, v, 1, 1u << 21, &s->sectors))
			return -1;
	} else if (!strcmp(k, "clients")) {
		if (parse_u64(p, v, 1, ADD_SCN_CLIENTS_MAX, &u))
			return -1;
		s->clients = (uint32_t)u;
	} else if (!strcmp(k, "concurrency")) {
		if (parse_u64(p, v, 1, 64, &u))
			return -1;
		s->concurrency = (uint32_t)u;
	} else if (!strcmp(k, "ops")) {
		if (parse_u64(p, v, 0, 10000000, &s->ops))
			return -1;
	} else if (!strcmp(k, "read_ratio")) {
		if (parse_prob(p, v, 1, &s->read_ratio))
			return -1;
	} else if (key_is(k, "duration")) {
		return parse_time(p, v, &s->duration_ns);
	} else if (key_is(k, "min_duration")) {
		return parse_time(p, v, &s->min_duration_ns);
	} else if (key_is(k, "client_timeout")) {
		return parse_time(p, v, &s->client_timeout_ns);
	} else if (key_is(k, "think")) {
		return parse_time(p, v, &s->think_ns_max);
	} else if (key_is(k, "liveness")) {
		return parse_time(p, v, &s->liveness_ns);
	} else if (key_is(k, "settle")) {
		return parse_time(p, v, &s->settle_ns);
	} else if (key_is(k, "quiesce")) {
		return parse_time(p, v, &s->quiesce_ns);
	} else if (key_is(k, "checkpoint_idle")) {
		return parse_time(p, v, &s->checkpoint_idle_ns);
	} else if (!strcmp(k, "journal_max")) {
		return parse_u64(p, v, 0, 1ull << 40, &s->journal_max_bytes);
	} else if (key_is(k, "reorder_delay")) {
		return parse_time(p, v, &s->reorder_max_ns);
	} else if (key_is(k, "latency") || key_is(k, "reconnect") || key_is(k, "flush") ||
		   key_is(k, "down") || key_is(k, "pause_len") || key_is(k, "disk_full_len")) {
		uint64_t lo, hi;
		if (parse_time(p, v, &lo) || parse_time(p, ntok > 2 ? tok[2] : NULL, &hi))
			return -1;
		if (lo > hi)
			return fail(p, "min %s above max", k);
		uint64_t *dlo, *dhi;
		if (key_is(k, "latency")) {
			dlo = &s->latency_min_ns;
			dhi = &s->latency_max_ns;
		} else if (key_is(k, "reconnect")) {
			dlo = &s->reconnect_min_ns;
			dhi = &s->reconnect_max_ns;
		} else if (key_is(k, "flush")) {
			dlo = &s->flush_min_ns;
			dhi = &s->flush_max_ns;
		} else if (key_is(k, "down")) {
			dlo = &s->down_min_ns;
			dhi = &s->down_max_ns;
		} else if (key_is(k, "disk_full_len")) {
			dlo = &s->disk_full_min_ns;
			dhi = &s->disk_full_max_ns;
		} else {
			dlo = &s->pause_min_ns;
			dhi = &s->pause_max_ns;
		}
		*dlo = lo;
		*dhi = hi;
	} else if (!strcmp(k, "max_down")) {
		if (parse_u64(p, v, 0, ADD_SCN_NODES_MAX, &u))
			return -1;
		s->max_down = (int)u;
	} else if (!strcmp(k, "crash_mode")) {
		/* in add_sim_crash_mode order, then ADD_SCN_CRASH_MODE_ANY */
		static const char *modes[] = {"random", "lose", "keep", "tear", "garbage", "any"};
		for (int i = 0; i < 6; i++)
			if (v && !strcmp(v, modes[i])) {
				s->crash_mode = i;
				return 0;
			}
		return fail(p, "crash_mode is random, lose, keep, tear, garbage or any");
	} else if (!strcmp(k, "rot_files")) {
		/* "data,meta": the store files random rot may hit */
		static const char *const names[] = ADD_SCN_STORE_FILES;
		if (!v)
			return fail(p, "rot_files needs a list, e.g. data,meta");
		char list[128];
		snprintf(list, sizeof(list), "%s", v);
		s->rot_files = 0;
		for (char *save = NULL, *f = strtok_r(list, ",", &save); f;
		     f = strtok_r(NULL, ",", &save)) {
			int i = 0;
			while (i < ADD_SCN_N_STORE_FILES && strcmp(f, names[i]))
				i++;
			if (i == ADD_SCN_N_STORE_FILES)
				return fail(p, "rot_files: '%s' is not data, meta, journal-a or journal-b", f);
			s->rot_files |= 1u << i;
		}
		if (!s->rot_files)
			return fail(p, "rot_files needs at least one file");
	} else if (!strcmp(k, "buggify")) {
		if (v && !strcmp(v, "on"))
			s->buggify = true;
		else if (v && !strcmp(v, "off"))
			s->buggify = false;
		else
			return fail(p, "buggify on|off");
	} else if (!strcmp(k, "overlap_faults")) {
		if (v && !strcmp(v, "on"))
			s->overlap_faults = true;
		else if (v && !strcmp(v, "off"))
			s->overlap_faults = false;
		else
			return fail(p, "overlap_faults on|off");
	} else if (!strcmp(k, "scrub_per_s")) {
		return parse_u64(p, v, 0, 100000000, &s->scrub_per_s);
	} else if (key_is(k, "repair_time")) {
		return parse_time(p, v, &s->repair_time_ns);
	} else if (!strcmp(k, "rate")) {
		return parse_rate(p, s, v, ntok > 2 ? tok[2] : NULL);
	} else if (!strcmp(k, "at")) {
		return parse_at(p, s, tok, ntok);
	} else if (!strcmp(k, "expect")) {
		if (v && !strcmp(v, "no_completions"))
			s->expect_no_completions = true;
		else if (v && !strcmp(v, "liveness"))
			s->expect_liveness = true;
		else if (v && !strcmp(v, "no_liveness"))
			s->expect_liveness = false;
		else if (v && !strcmp(v, "refusal"))
			s->expect_refusal = true;
		else
			return fail(p, "expect no_completions | liveness | no_liveness | refusal");
	} else {
		return fail(p, "unknown keyword '%s'", k);
	}
	return 0;
}

int add_scenario_parse(add_scenario *s, const char *text, char *err, size_t err_len)
{
	add_scenario_defaults(s);
	parser p = {.line = 0, .err = err, .err_len = err_len};
	const char *c = text;
	while (*c) {
		p.line++;
		const char *eol = strchr(c, '\n');
		size_t n = eol ? (size_t)(eol - c) : strlen(c);
		char buf[512];
		if (n >= sizeof(buf))
			return fail(&p, "line too long");
		memcpy(buf, c, n);
		buf[n] = '\0';
		c += n + (eol ? 1 : 0);
		char *hash = strchr(buf, '#');
		if (hash)
			*hash = '\0';
		char *tok[16];
		int ntok = 0;
		for (char *t = strtok(buf, " \t\r"); t && ntok < 16; t = strtok(NULL, " \t\r"))
			tok[ntok++] = t;
		if (ntok == 0)
			continue;
		if (parse_line(&p, s, tok, ntok))
			return -1;
	}
	if (s->latency_min_ns == 0)
		s->latency_min_ns = 1; /* a message never arrives at the instant it is sent */
	if (s->max_down > s->nodes)
		s->max_down = s->nodes;
	return 0;
}

int add_scenario_load(add_scenario *s, const char *path, char *err, size_t err_len)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	char *text = NULL;
	size_t len = 0, cap = 0;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			char *t = realloc(text, cap);
			if (!t) {
				free(text);
				fclose(f);
				snprintf(err, err_len, "out of memory");
				return -1;
			}
			text = t;
		}
		memcpy(text + len, chunk, n);
		len += n;
	}
	fclose(f);
	if (!text) {
		text = calloc(1, 1);
		if (!text)
			return -1;
	}
	text[len] = '\0';
	char perr[256];
	int rc = add_scenario_parse(s, text, perr, sizeof(perr));
	free(text);
	if (rc) {
		snprintf(err, err_len, "%s: %s", path, perr);
		return -1;
	}
	if (!strcmp(s->name, "unnamed")) {
		const char *base = strrchr(path, '/');
		base = base ? base + 1 : path;
		snprintf(s->name, sizeof(s->name), "%s", base);
		char *dot = strrchr(s->name, '.');
		if (dot)
			*dot = '\0';
	}
	return 0;
}
