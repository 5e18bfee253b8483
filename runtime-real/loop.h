/*
 * runtime-real/loop: a small reactor in the manner of Redis's ae.c.
 *
 * File events (readable / writable callbacks per fd, epoll level-triggered),
 * timers (a small bounded table, scanned linearly: a process has a handful),
 * and a before-sleep hook run once per iteration before epoll_wait: the place
 * for batched work (flush queued sends with one write per connection, start
 * the sector store's group commit).
 *
 * Single-threaded: every callback runs on the thread that calls add_loop_run.
 */
#ifndef ADD_REAL_LOOP_H
#define ADD_REAL_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#define ADD_LOOP_READABLE 1u
#define ADD_LOOP_WRITABLE 2u
/* Delivered (alone or with the others) on EPOLLERR/EPOLLHUP, even to an fd
 * whose mask is 0: the callback must then close it or it will spin. */
#define ADD_LOOP_ERROR 4u

/* Returned by a timer callback to stop repeating. */
#define ADD_TIMER_STOP UINT64_MAX

typedef struct add_loop add_loop;
typedef void (*add_file_fn)(add_loop *loop, int fd, void *arg, uint32_t events);
/* Returns the delay (ns) until the next call, or ADD_TIMER_STOP. */
typedef uint64_t (*add_timer_fn)(add_loop *loop, uint64_t id, void *arg);
typedef void (*add_before_sleep_fn)(add_loop *loop, void *arg);

/* max_fds bounds the fd numbers the loop can watch (e.g. the RLIMIT_NOFILE). */
add_loop *add_loop_create(int max_fds);
void add_loop_destroy(add_loop *loop);

/* Watches fd with `mask` (replacing any previous registration). 0 or -errno. */
int add_loop_add_fd(add_loop *loop, int fd, uint32_t mask, add_file_fn fn, void *arg);
/* Changes the mask of a watched fd (0 = watched but idle). 0 or -errno. */
int add_loop_set_mask(add_loop *loop, int fd, uint32_t mask);
uint32_t add_loop_get_mask(const add_loop *loop, int fd);
/* Stops watching fd (call before closing it). */
void add_loop_del_fd(add_loop *loop, int fd);

/* Returns a timer id (> 0), or 0 when the table is full. */
uint64_t add_loop_add_timer(add_loop *loop, uint64_t delay_ns, add_timer_fn fn, void *arg);
void add_loop_del_timer(add_loop *loop, uint64_t id);

void add_loop_set_before_sleep(add_loop *loop, add_before_sleep_fn fn, void *arg);

/* Runs until add_loop_stop. Returns 0, or -errno if epoll_wait failed. */
int add_loop_run(add_loop *loop);
void add_loop_stop(add_loop *loop);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t add_now_ns(void);

#endif /* ADD_REAL_LOOP_H */
