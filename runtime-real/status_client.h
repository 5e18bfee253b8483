/*
 * runtime-real/status_client: asks one process for its STATUS over TCP
 * (blocking, with a timeout), for addctl status.
 */
#ifndef ADD_REAL_STATUS_CLIENT_H
#define ADD_REAL_STATUS_CLIENT_H

#include "config.h"
#include "status.h"
#include "wire.h"

/* Connects, sends a signed STATUS, waits for its answer. Fills out->info
 * and sets out->reachable, or sets out->error (connection refused, timeout,
 * bad HMAC = another client key, not an ADD process, ...). */
void add_status_ask(const add_hostport *hp, const add_hmac_key *client_key, int timeout_ms,
		    add_status_probe *out);

#endif /* ADD_REAL_STATUS_CLIENT_H */
