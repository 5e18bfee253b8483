/*
 * core/io: the whole boundary between the pure core and a runtime.
 *
 * The core never calls the OS, never reads a clock, never draws randomness,
 * never spawns a thread. Everything nondeterministic reaches it through these
 * function pointers, which runtime-real (epoll, TCP, POSIX files), runtime-sim
 * (the deterministic simulator) and the unit tests' scripted runtime each
 * implement. Disk operations have their own table: core/disk.h.
 *
 * All calls happen on the runtime's single event-loop thread. The core never
 * calls back into itself from inside an io function: a runtime must not call
 * into the node from inside one of these callbacks either (queue instead).
 */
#ifndef ADD_IO_H
#define ADD_IO_H

#include <stddef.h>
#include <stdint.h>

typedef enum add_log_level {
	ADD_LOG_ERROR = 0,
	ADD_LOG_WARN = 1,
	ADD_LOG_INFO = 2,
	ADD_LOG_DEBUG = 3,
	ADD_LOG_TRACE = 4,
} add_log_level;

typedef struct add_io {
	void *ctx;
	/* Monotonic time in nanoseconds. */
	uint64_t (*now_ns)(void *ctx);
	/* len random bytes (operation UUIDs, incarnation numbers). */
	void (*random_bytes)(void *ctx, uint8_t *out, size_t len);
	/* Best-effort send of one whole signed internal message to the process of
	 * rank `rank` (never the caller's own rank). May drop it (peer down,
	 * queue full): the node's stubborn links retransmit. The bytes are
	 * copied before the call returns. */
	void (*send_peer)(void *ctx, uint8_t rank, const uint8_t *msg, size_t len);
	/* Send one whole signed response on client connection `conn`. Copied
	 * before return; dropped if that connection is gone. */
	void (*send_client)(void *ctx, uint64_t conn, const uint8_t *msg, size_t len);
	/* One log line (no trailing newline). May be NULL. */
	void (*log)(void *ctx, add_log_level level, const char *line);
	/* Optional (NULL in runtimes without a local front end): the operation
	 * submitted with add_node_submit_local(..., token) completed; `data` is
	 * the sector read (ADD_SECTOR_SIZE bytes, valid only during the call)
	 * for a read, NULL for a write, whose value is then durable on a
	 * majority. Called from inside a node entry point (add_node_submit_local
	 * included): the runtime must not call into the node from it. */
	void (*local_done)(void *ctx, uint64_t token, const uint8_t *data);
	/* Simulator hooks (core/sim_hooks.h); NULL in the real runtime, which
	 * never enables them. `sometimes`: the named coverage point was
	 * reached. `buggify`: may the named fault point fire now? (the
	 * simulator decides from its own PRNG). `point` is a string literal. */
	void (*sometimes)(void *ctx, const char *point);
	int (*buggify)(void *ctx, const char *point);
} add_io;

#endif /* ADD_IO_H */
