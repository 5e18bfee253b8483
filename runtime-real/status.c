/* runtime-real/status: see status.h. */
#include "status.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mutants.h"
#include "wire.h"

#define B(off) (body + (off) - ADD_RSP_OFF_DATA)
#define N_U64 15

static uint64_t *u64_field(add_status_info *s, unsigned i)
{
	uint64_t *f[N_U64] = {
		&s->uptime_ms,	     &s->n_sectors,	  &s->sectors_written, &s->disk_bytes,
		&s->disk_bound,	     &s->checksum_mismatches, &s->read_errors, &s->corrupt_records,
		&s->suspect_sectors, &s->repairs,	  &s->damaged_now,     &s->damaged_found,
		&s->repairs_done,    &s->scrubbed,	  &s->ops_completed,
	};
	assert(i < N_U64);
	return f[i];
}

_Static_assert(ADD_STB_OFF_U64 + 8 * N_U64 <= ADD_STB_OFF_SLOTS, "counters fit");
_Static_assert(ADD_STB_OFF_VERSION + ADD_STB_VERSION_SIZE <= ADD_RSP_OFF_DATA + ADD_STATUS_BODY_SIZE,
	       "version fits");
_Static_assert(ADD_STB_OFF_KNOWN + 8 == ADD_RSP_OFF_DATA + ADD_STATUS_BODY_SIZE,
	       "the last counter ends the body");

void add_status_from_metrics(const add_metrics_snapshot *m, add_status_info *s)
{
	memset(s, 0, sizeof(*s));
	s->rank = m->rank;
	s->n_procs = m->n_procs;
	s->role = m->recovering ? ADD_ROLE_RECOVERING : ADD_ROLE_MEMBER;
	add_status_set_sees(s, m->rank);
	for (uint32_t i = 0; i < m->n_peers; i++)
		if (m->peers[i].up)
			add_status_set_sees(s, m->peers[i].rank);
	s->uptime_ms = (uint64_t)(m->uptime_seconds * 1000.0);
	s->n_sectors = m->n_sectors;
	s->sectors_written = m->sectors_written;
	s->disk_bytes = m->disk_bytes;
	s->disk_bound = m->disk_bound_bytes;
	s->checksum_mismatches = m->store.checksum_mismatches;
	s->read_errors = m->store.read_errors;
	s->corrupt_records = m->store.corrupt_records;
	s->suspect_sectors = m->store.suspect_sectors;
	s->repairs = m->store.repairs;
	s->damaged_now = m->store.damaged_now;
	s->damaged_found = m->node.damaged_found;
	s->repairs_done = m->node.repairs_done;
	s->scrubbed = m->node.scrubbed;
	s->ops_completed = m->node.ops_completed;
	s->client_slots_used = (uint8_t)(m->client_slots_used > 255 ? 255 : m->client_slots_used);
	s->scrub_passes = m->scrub_passes;
	s->known = m->rejoin_known;
	snprintf(s->version, sizeof(s->version), "%s", m->version ? m->version : "");
	assert(add_status_sees(s, m->rank));
}

void add_status_encode(const add_status_info *s, uint8_t body[ADD_STATUS_BODY_SIZE])
{
	add_status_info c = *s; /* u64_field wants a mutable struct */

	memset(body, 0, ADD_STATUS_BODY_SIZE);
	*B(ADD_STB_OFF_FORMAT) = ADD_STB_FORMAT;
	*B(ADD_STB_OFF_RANK) = s->rank;
	*B(ADD_STB_OFF_NPROCS) = s->n_procs;
	*B(ADD_STB_OFF_ROLE) = s->role;
	memcpy(B(ADD_STB_OFF_PEERS_UP), s->peers_up, ADD_STB_PEERS_UP_SIZE);
	for (unsigned i = 0; i < N_U64; i++)
		add_put_be64(B(ADD_STB_OFF_U64 + 8 * i), *u64_field(&c, i));
	*B(ADD_STB_OFF_SLOTS) = s->client_slots_used;
	add_put_be64(B(ADD_STB_OFF_SCRUB_PASSES), s->scrub_passes);
	add_put_be64(B(ADD_STB_OFF_KNOWN), s->known);
	size_t vlen = strnlen(s->version, ADD_STB_VERSION_SIZE); /* NUL-padded, maybe full */
	memcpy(B(ADD_STB_OFF_VERSION), s->version, vlen);
	assert(*B(ADD_STB_OFF_FORMAT) == ADD_STB_FORMAT);
}

int add_status_decode(const uint8_t body[ADD_STATUS_BODY_SIZE], add_status_info *s)
{
	memset(s, 0, sizeof(*s));
	if (body[0] != ADD_STB_FORMAT)
		return -1;
	s->rank = body[ADD_STB_OFF_RANK - ADD_RSP_OFF_DATA];
	s->n_procs = body[ADD_STB_OFF_NPROCS - ADD_RSP_OFF_DATA];
	s->role = body[ADD_STB_OFF_ROLE - ADD_RSP_OFF_DATA];
	memcpy(s->peers_up, body + ADD_STB_OFF_PEERS_UP - ADD_RSP_OFF_DATA, ADD_STB_PEERS_UP_SIZE);
	for (unsigned i = 0; i < N_U64; i++)
		*u64_field(s, i) = add_get_be64(body + ADD_STB_OFF_U64 - ADD_RSP_OFF_DATA + 8 * i);
	s->client_slots_used = body[ADD_STB_OFF_SLOTS - ADD_RSP_OFF_DATA];
	s->scrub_passes = add_get_be64(body + ADD_STB_OFF_SCRUB_PASSES - ADD_RSP_OFF_DATA);
	s->known = add_get_be64(body + ADD_STB_OFF_KNOWN - ADD_RSP_OFF_DATA);
	memcpy(s->version, body + ADD_STB_OFF_VERSION - ADD_RSP_OFF_DATA, ADD_STB_VERSION_SIZE);
	s->version[ADD_STB_VERSION_SIZE] = '\0';
	for (char *v = s->version; *v; v++)
		if (*v < 0x20 || *v > 0x7e)
			*v = '?'; /* printable only: it goes to a terminal */
	return 0;
}

typedef struct sbuf {
	char *p;
	size_t len, cap;
} sbuf;

static void sb(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	if (b->len >= b->cap)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len = b->len + (size_t)n < b->cap ? b->len + (size_t)n : b->cap - 1;
}

add_verdict add_status_verdict(const add_status_probe *probes, size_t n, char *why,
			       size_t why_len)
{
	sbuf b = {.p = why, .cap = why_len};
	size_t up = 0, majority = ADD_MUTANT_ON(ADD_MUTANT_VERDICT_HALF_IS_MAJORITY) ? (n + 1) / 2
										   : n / 2 + 1;
	bool links_ok = true, damage = false, mismatch = false;

	assert(n >= 1 && why_len > 0);
	why[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const add_status_probe *p = &probes[i];
		if (!p->reachable)
			continue;
		up++;
		if (p->info.rank != i + 1 || p->info.n_procs != n)
			mismatch = true;
		for (size_t r = 1; r <= n; r++)
			if (probes[r - 1].reachable && !add_status_sees(&p->info, (unsigned)r))
				links_ok = false;
		if (p->info.damaged_now > 0)
			damage = true;
	}
	if (up < majority) {
		sb(&b, "unavailable: %zu of %zu processes answer, %zu needed", up, n, majority);
		return ADD_VERDICT_UNAVAILABLE;
	}
	/* An operation needs a coordinator linked both ways to a majority
	 * (itself included; a process addctl cannot reach counts as linked
	 * when the coordinator sees it up). */
	size_t best = 0;
	for (size_t i = 0; i < n; i++) {
		const add_status_probe *p = &probes[i];
		size_t linked = 1;
		if (!p->reachable)
			continue;
		for (size_t j = 0; j < n; j++)
			if (j != i && add_status_sees(&p->info, (unsigned)(j + 1)) &&
			    (!probes[j].reachable || add_status_sees(&probes[j].info, (unsigned)(i + 1))))
				linked++;
		if (linked > best)
			best = linked;
	}
	if (best < majority) {
		sb(&b, "unavailable: no process is linked to a majority (%zu needed, at most %zu)",
		   majority, best);
		return ADD_VERDICT_UNAVAILABLE;
	}
	if (up == n && links_ok && !damage && !mismatch) {
		sb(&b, "healthy");
		return ADD_VERDICT_HEALTHY;
	}
	sb(&b, "degraded:");
	const char *sep = " ";
	size_t alive = up; /* answering, or seen up by one that answers */
	for (size_t i = 0; i < n; i++) {
		if (probes[i].reachable)
			continue;
		bool seen = false;
		for (size_t j = 0; j < n; j++)
			seen |= probes[j].reachable && add_status_sees(&probes[j].info, (unsigned)(i + 1));
		if (seen) {
			alive++;
			sb(&b, "%srank %zu does not answer here (its peers see it up)", sep, i + 1);
		} else {
			sb(&b, "%srank %zu down", sep, i + 1);
		}
		sep = ", ";
	}
	for (size_t i = 0; i < n; i++) {
		const add_status_probe *p = &probes[i];
		if (!p->reachable)
			continue;
		if (p->info.rank != i + 1 || p->info.n_procs != n) {
			sb(&b, "%s%s answers as rank %u of %u", sep, p->address, p->info.rank,
			   p->info.n_procs);
			sep = "; ";
		}
		for (size_t r = 1; r <= n; r++)
			if (probes[r - 1].reachable && !add_status_sees(&p->info, (unsigned)r)) {
				sb(&b, "%srank %zu does not see rank %zu", sep, i + 1, r);
				sep = "; ";
			}
		if (p->info.damaged_now > 0) {
			sb(&b, "%srank %zu has %llu damaged sectors", sep, i + 1,
			   (unsigned long long)p->info.damaged_now);
			sep = "; ";
		}
	}
	if (alive == majority && alive < n)
		sb(&b, "; writes on a bare majority");
	return ADD_VERDICT_DEGRADED;
}

static void human_bytes(char *out, size_t len, uint64_t v)
{
	if (v >= (1ull << 30))
		snprintf(out, len, "%.1f GiB", (double)v / (double)(1ull << 30));
	else if (v >= (1ull << 20))
		snprintf(out, len, "%.1f MiB", (double)v / (double)(1ull << 20));
	else
		snprintf(out, len, "%.1f KiB", (double)v / 1024.0);
}

static void peers_list(sbuf *b, const add_status_info *s)
{
	const char *sep = "";
	for (unsigned r = 1; r <= s->n_procs; r++)
		if (add_status_sees(s, r)) {
			sb(b, "%s%u", sep, r);
			sep = ",";
		}
	if (*sep == '\0')
		sb(b, "none");
}

void add_status_line(const add_status_probe *p, unsigned rank, char *out, size_t len)
{
	sbuf b = {.p = out, .cap = len};
	const add_status_info *s = &p->info;
	char used[32], bound[32];

	out[0] = '\0';
	if (!p->reachable) {
		sb(&b, "rank %u  %s  unreachable: %s", rank, p->address, p->error);
		return;
	}
	human_bytes(used, sizeof(used), s->disk_bytes);
	human_bytes(bound, sizeof(bound), s->disk_bound);
	sb(&b, "rank %u  %s  up  %s  sees ", s->rank, p->address,
	   s->role == ADD_ROLE_RECOVERING ? "recovering" : "member");
	peers_list(&b, s);
	if (s->role == ADD_ROLE_RECOVERING)
		sb(&b, "  re-learned %llu/%llu (%.1f%%)", (unsigned long long)s->known,
		   (unsigned long long)s->n_sectors,
		   s->n_sectors ? 100.0 * (double)s->known / (double)s->n_sectors : 100.0);
	sb(&b, "  written %llu/%llu  disk %s of %s  uptime %llus  v%s  damage now %llu "
	       "(found %llu, repaired %llu, checksum %llu, read errors %llu, corrupt records %llu)"
	       "  scrubbed %llu (passes %llu)",
	   (unsigned long long)s->sectors_written, (unsigned long long)s->n_sectors, used, bound,
	   (unsigned long long)(s->uptime_ms / 1000), s->version,
	   (unsigned long long)s->damaged_now, (unsigned long long)s->damaged_found,
	   (unsigned long long)s->repairs_done, (unsigned long long)s->checksum_mismatches,
	   (unsigned long long)s->read_errors, (unsigned long long)s->corrupt_records,
	   (unsigned long long)s->scrubbed, (unsigned long long)s->scrub_passes);
}

/* A JSON string of printable ASCII (anything else becomes '?'). */
static void json_str(sbuf *b, const char *s)
{
	sb(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			sb(b, "\\%c", *s);
		else
			sb(b, "%c", *s >= 0x20 && *s <= 0x7e ? *s : '?');
	}
	sb(b, "\"");
}

void add_status_json(const add_status_probe *p, unsigned rank, char *out, size_t len)
{
	sbuf b = {.p = out, .cap = len};
	const add_status_info *s = &p->info;

	out[0] = '\0';
	sb(&b, "{\"rank\": %u, \"address\": ", rank);
	json_str(&b, p->address);
	if (!p->reachable) {
		sb(&b, ", \"reachable\": false, \"error\": ");
		json_str(&b, p->error);
		sb(&b, "}");
		return;
	}
	sb(&b, ", \"reachable\": true, \"answered_rank\": %u, \"processes\": %u, \"role\": \"%s\", "
	       "\"peers_up\": [", s->rank, s->n_procs,
	   s->role == ADD_ROLE_RECOVERING ? "recovering" : "member");
	const char *sep = "";
	for (unsigned r = 1; r <= s->n_procs; r++)
		if (add_status_sees(s, r)) {
			sb(&b, "%s%u", sep, r);
			sep = ", ";
		}
	sb(&b, "], \"uptime_ms\": %llu, \"sectors\": %llu, \"sectors_written\": %llu, "
	       "\"disk_bytes\": %llu, \"disk_bound_bytes\": %llu, \"version\": ",
	   (unsigned long long)s->uptime_ms, (unsigned long long)s->n_sectors,
	   (unsigned long long)s->sectors_written, (unsigned long long)s->disk_bytes,
	   (unsigned long long)s->disk_bound);
	json_str(&b, s->version);
	sb(&b, ", \"damage\": {\"checksum_mismatches\": %llu, \"read_errors\": %llu, "
	       "\"corrupt_records\": %llu, \"suspect_sectors\": %llu, \"store_repairs\": %llu, "
	       "\"damaged_now\": %llu, \"damaged_found\": %llu, \"repairs_done\": %llu, "
	       "\"scrubbed\": %llu, \"scrub_passes\": %llu}, \"sectors_known\": %llu, "
	       "\"ops_completed\": %llu, \"client_slots_used\": %u}",
	   (unsigned long long)s->checksum_mismatches, (unsigned long long)s->read_errors,
	   (unsigned long long)s->corrupt_records, (unsigned long long)s->suspect_sectors,
	   (unsigned long long)s->repairs, (unsigned long long)s->damaged_now,
	   (unsigned long long)s->damaged_found, (unsigned long long)s->repairs_done,
	   (unsigned long long)s->scrubbed, (unsigned long long)s->scrub_passes,
	   (unsigned long long)s->known, (unsigned long long)s->ops_completed,
	   s->client_slots_used);
}
