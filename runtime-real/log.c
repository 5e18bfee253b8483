/* runtime-real/log: see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static add_log_level log_level = ADD_LOG_INFO;
static char log_name[32] = "add";

void add_log_set_level(add_log_level level)
{
	log_level = level;
}

add_log_level add_log_get_level(void)
{
	return log_level;
}

void add_log_set_name(const char *name)
{
	snprintf(log_name, sizeof(log_name), "%s", name);
}

int add_log_parse_level(const char *s)
{
	static const char *const names[] = {"error", "warn", "info", "debug", "trace"};
	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
		if (strcasecmp(s, names[i]) == 0)
			return i;
	if (strcasecmp(s, "warning") == 0)
		return ADD_LOG_WARN;
	if (strcasecmp(s, "err") == 0)
		return ADD_LOG_ERROR;
	return -1;
}

/* systemd sets JOURNAL_STREAM when stderr is a journal stream. Asked once:
 * the environment of a running process does not change under it. */
static bool under_journald(void)
{
	static int cached = -1;
	if (cached < 0)
		cached = getenv("JOURNAL_STREAM") != NULL && getenv("JOURNAL_STREAM")[0] != '\0';
	return cached == 1;
}

void add_log(add_log_level level, const char *fmt, ...)
{
	static const char *const tags[] = {"error", "warning", "info", "debug", "trace"};
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (level > log_level)
		return;
	if (under_journald()) {
		/* journald stamps every line itself */
		n = snprintf(line, sizeof(line), "%s %s: ", log_name, tags[level]);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			     tm.tm_sec, ts.tv_nsec / 1000000, log_name, tags[level]);
	}
	if (n < 0)
		return;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* Best effort: nowhere to report a failed log write. */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}
