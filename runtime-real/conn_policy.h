/*
 * runtime-real/conn_policy: what addd does with its inbound connections, as
 * pure decisions (no sockets, no clock: the caller passes now_ns), so that a
 * unit test drives every rule. addd keeps the sockets (daemon_conn.c).
 *
 * Rules (issue 13):
 *  - Classification. An inbound connection is NEW (on probation) until its
 *    first validly signed message: a signed peer message makes it a PEER of
 *    that rank, a signed client command makes it a CLIENT. Unsigned or
 *    badly signed messages prove nothing (they are still handed on: the node
 *    answers a bad command with status 1 and counts bad peer tags).
 *  - Admission prefers authenticated clients. A client slot (ADD_CLIENTS_MAX
 *    of them) is taken only by a connection's first validly signed client
 *    command; a NEW connection holds none, so connections without the key
 *    (idle port scanners, a flood of attackers) never lock a client out. A
 *    signed command while every slot is taken closes that connection
 *    ("client limit"). NEW connections are bounded too (probation_max): at
 *    the bound, accepting one more evicts the oldest on probation.
 *  - Probation: a NEW connection that sent no validly signed message within
 *    probation_ns is closed.
 *  - Idle clients: a CLIENT with nothing pending and no activity (command
 *    received or answer sent) for idle_ns is closed (0: never).
 *  - Half-close: end of file from a CLIENT with commands pending is "that
 *    was all" (shutdown(SHUT_WR), nc -N): no more reads, its slot is given
 *    back at once, its answers are still sent, and it is closed once they
 *    are, or after half_close_ns.
 *  - Peers: a new inbound link from a rank replaces the older one (the old
 *    one is closed: a peer that restarted or whose host died leaves a
 *    half-open connection behind).
 *  - Backpressure: client connections are not read while the node does not
 *    accept commands or their replies back up beyond out_pause bytes; peers
 *    always flow.
 */
#ifndef ADD_CONN_POLICY_H
#define ADD_CONN_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire_constants.h"

typedef enum add_cp_kind {
	ADD_CP_NEW = 0, /* inbound, no validly signed message yet */
	ADD_CP_CLIENT,
	ADD_CP_PEER,
	ADD_CP_CLOSED, /* after add_cp_on_close */
} add_cp_kind;

typedef struct add_cp_config {
	uint32_t client_slots;  /* ADD_CLIENTS_MAX */
	uint32_t probation_max; /* NEW connections at once (>= 1) */
	uint64_t probation_ns;
	uint64_t idle_ns; /* 0: idle clients are never closed */
	uint64_t half_close_ns;
	size_t out_pause; /* client not read while its replies exceed this */
} add_cp_config;

/* One inbound connection's policy state (owned by the caller's table). */
typedef struct add_cp_conn {
	add_cp_kind kind;
	bool holds_slot;
	bool read_eof;
	uint8_t rank; /* PEER */
	uint32_t pending; /* commands handed to the node, not answered */
	uint64_t opened_ns;
	uint64_t active_ns; /* last command received or answer sent */
	uint64_t eof_ns;
} add_cp_conn;

typedef struct add_conn_policy {
	add_cp_config cfg;
	uint32_t slots_used;
	uint32_t on_probation;
	uint64_t peer_in[ADD_PROCS_MAX + 1]; /* current inbound link's id, 0: none */
} add_conn_policy;

void add_cp_init(add_conn_policy *p, const add_cp_config *cfg);

/* A connection was accepted with id (nonzero). Returns true when the
 * caller must first close the oldest NEW connection (probation is full:
 * add_cp_older tells which is older). */
bool add_cp_accept(add_conn_policy *p, add_cp_conn *c, uint64_t now_ns);
bool add_cp_older(const add_cp_conn *a, const add_cp_conn *b);

typedef enum add_cp_verdict {
	ADD_CP_DISPATCH = 0, /* hand the message on */
	ADD_CP_CLOSE_FULL,   /* a client, and every slot is taken: close */
} add_cp_verdict;

/* A decoded message on connection id: peer (else a client command),
 * validly signed or not, from rank (peer messages). *replaced is set to
 * the id of an older inbound link of that rank to close, else 0. */
add_cp_verdict add_cp_on_message(add_conn_policy *p, add_cp_conn *c, uint64_t id, bool peer,
				 bool hmac_ok, uint8_t rank, uint64_t now_ns,
				 uint64_t *replaced);
/* A command of this connection was handed to the node / answered. */
void add_cp_cmd_started(add_cp_conn *c, uint64_t now_ns);
void add_cp_cmd_answered(add_cp_conn *c, uint64_t now_ns);
/* End of file read. Returns true when the connection stays open,
 * half-closed, for its answers; false: close it now. */
bool add_cp_on_eof(add_conn_policy *p, add_cp_conn *c, uint64_t now_ns);
/* Whether to read the connection now. */
bool add_cp_reads(const add_conn_policy *p, const add_cp_conn *c, bool node_accepting,
		  size_t out_pending);
/* Why the connection must be closed now (probation, idle, half-close
 * expired), or NULL. */
const char *add_cp_expired(const add_conn_policy *p, const add_cp_conn *c, uint64_t now_ns);
/* The connection is closed: its slot, its probation place and its rank's
 * inbound link (when it is that one) are given back. */
void add_cp_on_close(add_conn_policy *p, add_cp_conn *c, uint64_t id);

#endif /* ADD_CONN_POLICY_H */
