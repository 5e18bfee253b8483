/* runtime-real/loop: see loop.h. */
#include "loop.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define LOOP_TIMERS_MAX 1024
#define LOOP_EVENTS_MAX 256

typedef struct file_event {
	uint32_t mask; /* ADD_LOOP_* currently asked for */
	bool watched;
	add_file_fn fn;
	void *arg;
} file_event;

typedef struct timer {
	uint64_t id; /* 0 = free slot */
	uint64_t when_ns;
	add_timer_fn fn;
	void *arg;
} timer;

struct add_loop {
	int epfd;
	int max_fds;
	bool stop;
	file_event *files;
	timer timers[LOOP_TIMERS_MAX];
	int timers_used; /* slots [0, timers_used) may hold timers */
	uint64_t next_timer_id;
	add_before_sleep_fn before_sleep;
	void *before_sleep_arg;
	struct epoll_event events[LOOP_EVENTS_MAX];
};

uint64_t add_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

add_loop *add_loop_create(int max_fds)
{
	add_loop *loop;

	assert(max_fds > 0);
	loop = calloc(1, sizeof(*loop));
	if (loop == NULL)
		return NULL;
	loop->files = calloc((size_t)max_fds, sizeof(*loop->files));
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->files == NULL || loop->epfd < 0) {
		if (loop->epfd >= 0)
			close(loop->epfd);
		free(loop->files);
		free(loop);
		return NULL;
	}
	loop->max_fds = max_fds;
	loop->next_timer_id = 1;
	return loop;
}

void add_loop_destroy(add_loop *loop)
{
	if (loop == NULL)
		return;
	close(loop->epfd);
	free(loop->files);
	free(loop);
}

static uint32_t to_epoll(uint32_t mask)
{
	return ((mask & ADD_LOOP_READABLE) ? EPOLLIN : 0u) |
	       ((mask & ADD_LOOP_WRITABLE) ? EPOLLOUT : 0u);
}

int add_loop_add_fd(add_loop *loop, int fd, uint32_t mask, add_file_fn fn, void *arg)
{
	struct epoll_event ev = {.events = to_epoll(mask), .data.fd = fd};
	file_event *fe;

	if (fd < 0 || fd >= loop->max_fds)
		return -EMFILE;
	fe = &loop->files[fd];
	if (epoll_ctl(loop->epfd, fe->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0)
		return -errno;
	fe->watched = true;
	fe->mask = mask;
	fe->fn = fn;
	fe->arg = arg;
	return 0;
}

int add_loop_set_mask(add_loop *loop, int fd, uint32_t mask)
{
	struct epoll_event ev = {.events = to_epoll(mask), .data.fd = fd};
	file_event *fe;

	assert(fd >= 0 && fd < loop->max_fds);
	fe = &loop->files[fd];
	assert(fe->watched);
	if (fe->mask == mask)
		return 0;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
		return -errno;
	fe->mask = mask;
	return 0;
}

uint32_t add_loop_get_mask(const add_loop *loop, int fd)
{
	assert(fd >= 0 && fd < loop->max_fds);
	return loop->files[fd].mask;
}

void add_loop_del_fd(add_loop *loop, int fd)
{
	file_event *fe;

	assert(fd >= 0 && fd < loop->max_fds);
	fe = &loop->files[fd];
	if (!fe->watched)
		return;
	/* Cannot fail for a watched fd that is still open. */
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	fe->watched = false;
	fe->mask = 0;
	fe->fn = NULL;
	fe->arg = NULL;
}

uint64_t add_loop_add_timer(add_loop *loop, uint64_t delay_ns, add_timer_fn fn, void *arg)
{
	for (int i = 0; i < LOOP_TIMERS_MAX; i++) {
		timer *t = &loop->timers[i];
		if (t->id != 0)
			continue;
		t->id = loop->next_timer_id++;
		t->when_ns = add_now_ns() + delay_ns;
		t->fn = fn;
		t->arg = arg;
		if (i >= loop->timers_used)
			loop->timers_used = i + 1;
		return t->id;
	}
	return 0;
}

void add_loop_del_timer(add_loop *loop, uint64_t id)
{
	for (int i = 0; i < loop->timers_used; i++) {
		if (loop->timers[i].id == id) {
			loop->timers[i].id = 0;
			return;
		}
	}
}

void add_loop_set_before_sleep(add_loop *loop, add_before_sleep_fn fn, void *arg)
{
	loop->before_sleep = fn;
	loop->before_sleep_arg = arg;
}

void add_loop_stop(add_loop *loop)
{
	loop->stop = true;
}

/* Milliseconds until the earliest timer (rounded up), -1 if none. */
static int next_timeout_ms(const add_loop *loop, uint64_t now)
{
	uint64_t earliest = UINT64_MAX;

	for (int i = 0; i < loop->timers_used; i++)
		if (loop->timers[i].id != 0 && loop->timers[i].when_ns < earliest)
			earliest = loop->timers[i].when_ns;
	if (earliest == UINT64_MAX)
		return -1;
	if (earliest <= now)
		return 0;
	uint64_t ms = (earliest - now + 999999) / 1000000;
	return ms > 60000 ? 60000 : (int)ms;
}

static void run_timers(add_loop *loop)
{
	uint64_t now = add_now_ns();
	int used = loop->timers_used;

	for (int i = 0; i < used; i++) {
		timer *t = &loop->timers[i];
		if (t->id == 0 || t->when_ns > now)
			continue;
		uint64_t id = t->id;
		uint64_t next = t->fn(loop, id, t->arg);
		/* The callback may have deleted this timer (and reused its slot). */
		if (t->id != id)
			continue;
		if (next == ADD_TIMER_STOP)
			t->id = 0;
		else
			t->when_ns = now + next;
	}
	while (loop->timers_used > 0 && loop->timers[loop->timers_used - 1].id == 0)
		loop->timers_used--;
}

int add_loop_run(add_loop *loop)
{
	loop->stop = false;
	while (!loop->stop) {
		if (loop->before_sleep)
			loop->before_sleep(loop, loop->before_sleep_arg);
		if (loop->stop)
			break;
		int n = epoll_wait(loop->epfd, loop->events, LOOP_EVENTS_MAX,
				   next_timeout_ms(loop, add_now_ns()));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !loop->stop; i++) {
			int fd = loop->events[i].data.fd;
			uint32_t ev = loop->events[i].events, mask = 0;
			file_event *fe = &loop->files[fd];
			if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
				mask |= ADD_LOOP_READABLE;
			if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
				mask |= ADD_LOOP_WRITABLE;
			/* A callback earlier in this batch may have dropped fd. */
			mask &= fe->mask;
			if (ev & (EPOLLERR | EPOLLHUP))
				mask |= ADD_LOOP_ERROR;
			if (fe->watched && mask != 0)
				fe->fn(loop, fd, fe->arg, mask);
		}
		run_timers(loop);
	}
	return 0;
}
