/*
 * runtime-real/log: leveled log lines on stderr for addd and addctl.
 *
 * One line per call, written with a single write(2) so that lines from
 * several processes sharing a terminal do not interleave mid-line. A line
 * starts with a full UTC time stamp (2026-12-04T02:51:19.123Z), except under
 * journald (JOURNAL_STREAM set), which stamps lines itself.
 */
#ifndef ADD_REAL_LOG_H
#define ADD_REAL_LOG_H

#include "io.h"

/* Lines above this level are dropped. Default: ADD_LOG_INFO. */
void add_log_set_level(add_log_level level);
add_log_level add_log_get_level(void);
/* Prefix of every line, e.g. "addd[2]". Copied. */
void add_log_set_name(const char *name);
/* Parses "error", "warn", "info", "debug", "trace"; -1 if unknown. */
int add_log_parse_level(const char *s);

void add_log(add_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define add_err(...) add_log(ADD_LOG_ERROR, __VA_ARGS__)
#define add_warn(...) add_log(ADD_LOG_WARN, __VA_ARGS__)
#define add_info(...) add_log(ADD_LOG_INFO, __VA_ARGS__)
#define add_debug(...) add_log(ADD_LOG_DEBUG, __VA_ARGS__)

#endif /* ADD_REAL_LOG_H */
