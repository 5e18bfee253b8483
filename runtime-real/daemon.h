/*
 * runtime-real/daemon: one addd process. Glues the pure core (node, sector
 * store) to the reactor (loop.h), TCP (net.h, conn.h) and the POSIX disk.
 *
 * Connections: one listening port serves clients and peers. An accepted
 * connection is UNKNOWN until its first decoded message: a client command
 * makes it a CLIENT (at most ADD_CLIENTS_MAX at once), a validly signed
 * internal message makes it a PEER (not counted). Outbound, this process
 * keeps one connection to every other rank (reconnecting with backoff) and
 * sends internal messages only there; it opens each with a signed transport
 * acknowledgement of a null operation (a hello), so the far side classifies
 * it as a peer at once.
 *
 * Operations: the project's STATUS command (docs/PROTOCOL.md) is answered
 * here, not by the node; --metrics-listen serves /metrics (http.h,
 * metrics.h); a peer link going down (WARN) or up (INFO) is logged once per
 * transition, with the outage's duration.
 */
#ifndef ADD_REAL_DAEMON_H
#define ADD_REAL_DAEMON_H

#include "config.h"

/* Runs addd until SIGTERM/SIGINT. Returns the process exit code. */
int add_daemon_run(add_addd_config *cfg);

#endif /* ADD_REAL_DAEMON_H */
