/* runtime-real/link_log: see link_log.h. */
#include "link_log.h"
#include "mutants.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

void add_link_log_init(add_link_log *l, uint8_t rank, const char *host, uint16_t port,
		       uint64_t start_ns)
{
	memset(l, 0, sizeof(*l));
	l->rank = rank;
	l->host = host;
	l->port = port;
	l->start_ns = start_ns;
}

static double secs(uint64_t a, uint64_t b)
{
	return b >= a ? (double)(b - a) / 1e9 : 0.0;
}

int add_link_log_up(add_link_log *l, uint64_t now_ns, char *line, size_t len)
{
	assert(l->up_since_ns == 0);
	if (l->down_since_ns != 0)
		snprintf(line, len, "link to rank %u (%s:%u) up again after %.1f s down", l->rank,
			 l->host, l->port, secs(l->down_since_ns, now_ns));
	else if (l->never_up_said)
		snprintf(line, len, "link to rank %u (%s:%u) up, %.1f s after start", l->rank, l->host,
			 l->port, secs(l->start_ns, now_ns));
	else
		snprintf(line, len, "link to rank %u (%s:%u) up", l->rank, l->host, l->port);
	l->up_since_ns = now_ns ? now_ns : 1;
	l->down_since_ns = 0;
	l->ever_up = true;
	return ADD_LOG_INFO;
}

int add_link_log_down(add_link_log *l, uint64_t now_ns, const char *why, char *line, size_t len)
{
	if (l->up_since_ns == 0) {
		/* a failed connect: said once, for a rank never reached since start */
		if ((l->ever_up || l->never_up_said ||
		     now_ns - l->start_ns < ADD_LINK_NEVER_UP_WARN_NS) &&
		    !ADD_MUTANT_ON(ADD_MUTANT_LINK_LOG_EVERY_FAILURE))
			return -1;
		l->never_up_said = true;
		snprintf(line, len, "link to rank %u (%s:%u) not up since start %.0f s ago: %s",
			 l->rank, l->host, l->port, secs(l->start_ns, now_ns), why);
		return ADD_LOG_WARN;
	}
	snprintf(line, len, "link to rank %u (%s:%u) down: %s (it was up %.1f s)", l->rank, l->host,
		 l->port, why, secs(l->up_since_ns, now_ns));
	l->up_since_ns = 0;
	l->down_since_ns = now_ns ? now_ns : 1;
	assert(l->ever_up);
	return ADD_LOG_WARN;
}
