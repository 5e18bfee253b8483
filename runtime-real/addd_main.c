/*
 * addd: one process of an ADD cluster. See `addd --help` and daemon.h.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

/* Started with stdin, stdout or stderr closed, the listening socket or a
 * connection would get fd 0..2 and log lines would be written into it. */
static void keep_stdio_open(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		int null = open("/dev/null", O_RDWR);
		if (null >= 0 && null != fd) {
			(void)dup2(null, fd);
			close(null);
		}
	}
}

int main(int argc, char **argv)
{
	add_addd_config cfg;
	char err[512];
	int rc;

	keep_stdio_open();
	add_log_set_name("addd");
	rc = add_addd_parse_args(argc, argv, &cfg, err, sizeof(err));
	if (rc == ADD_ARGS_HELP) {
		fputs(add_addd_usage, stdout);
		return 0;
	}
	if (rc != ADD_ARGS_OK) {
		fprintf(stderr, "addd: error: %s\n", err);
		return 2;
	}
	char name[32];
	snprintf(name, sizeof(name), "addd[%u]", cfg.rank);
	add_log_set_name(name);
	add_log_set_level((add_log_level)cfg.log_level);
	rc = add_daemon_run(&cfg);
	add_addd_config_free(&cfg);
	return rc;
}
