/* SPDX-License-Identifier: MIT */
/* The two kernel back ends of the filler (private to lib/fill). */
#ifndef LADING_FILL_BACKENDS_H
#define LADING_FILL_BACKENDS_H

#include <lading/cache.h>
#include "engine.h"

/* What both back ends take from the caller. */
struct fill_serve_opts {
	struct lading_blob_sources *sources;
	const char *mountpoint;		/* fanotify: what the guardian detaches */
	const char *cache_dir;
	const char *toc_dir;		/* where ToCs are kept across restarts */
	unsigned timeout_ms;
	const struct lading_log *log;
};

/* ---- a child that outlives the filler -------------------------------- */

/*
 * If the filler dies, what it holds for the kernel (the fanotify group,
 * the /dev/cachefiles binding) goes with it.  A lifeline child holds it
 * too: it exits when the filler stops cleanly, and takes over with
 * on_orphan when the filler dies (or releases it to the child).  In the
 * child, keep[i] is fd FILL_LIFELINE_FD0 + i and nothing else is open;
 * on_orphan must make plain system calls only (the parent runs threads).
 */
#define FILL_LIFELINE_FD0 3

#define CACHEFILES_DEV "/dev/cachefiles"

enum fill_orphan_cause {
	FILL_ORPHAN_DIED,		/* the filler is gone without a word */
	FILL_ORPHAN_RELEASED,		/* it stopped and left the rest to us */
};

typedef void fill_orphan_fn(const void *arg, enum fill_orphan_cause cause);

struct fill_lifeline {
	pid_t pid;			/* 0: none */
	int pipe;			/* our end; its closing without 'q' = death */
};

int fill_lifeline_start(const int *keep, unsigned n, fill_orphan_fn *on_orphan,
			const void *arg, struct fill_lifeline *lf,
			struct lading_error *err);
/* A clean stop: the child exits; waits for it. */
void fill_lifeline_stop(struct fill_lifeline *lf);
/* Leaves the child running with on_orphan(FILL_ORPHAN_RELEASED). */
void fill_lifeline_release(struct fill_lifeline *lf);

/*
 * One fd over a unix socket (SCM_RIGHTS, one byte): 0 / -1; the fd / -1.
 * Both refuse a peer of another user (SO_PEERCRED).
 */
int fill_send_fd(int sock, int fd);
int fill_recv_fd(int sock);

/* ---- fanotify pre-content -------------------------------------------- */

struct fan_backend;

int fan_backend_alloc(struct fan_backend **out, struct lading_error *err);
/* The engine's blob_complete hook (ud = the fan_backend): drops the mark. */
void fan_backend_blob_complete(struct fill_blob *b, void *ud);
/*
 * Serves the plain-layout cache files of pr: a blob per slot, marks on
 * those not complete, and the event thread.  Call before mounting.
 */
int fan_backend_start(struct fan_backend *fb, struct fill_engine *e,
		      const struct lading_prepare_report *pr,
		      const struct fill_serve_opts *o, struct lading_error *err);
/*
 * Gives b a write fd (only an event's fd writes without raising events):
 * reads one byte past its data through the file, an event the event
 * thread answers at once.  0 or a negative errno.
 */
int fan_backend_prime(struct fan_backend *fb, struct fill_blob *b);
/* Stops reading events (requests in the engine still get answered). */
void fan_backend_stop(struct fan_backend *fb);
/* After the engine stopped: closes the group and frees. */
void fan_backend_free(struct fan_backend *fb);

/* ---- cachefiles on-demand ------------------------------------------- */

struct cf_backend;

struct cf_image_spec {
	const char *bootstrap_path;	/* the verified bootstrap (any copy) */
	const char *fsid, *domain_id;
};

/*
 * Binds /dev/cachefiles on cache_dir (already laid out by
 * lading_prepare) and serves OPEN/READ/CLOSE for the images' objects.
 */
int cf_backend_start(struct fill_engine *e, const char *cache_dir,
		     const char *tag, const struct cf_image_spec *images,
		     size_t nimages, const struct fill_serve_opts *o,
		     struct cf_backend **out, struct lading_error *err);
/* Stops reading messages (requests in the engine still complete). */
void cf_backend_stop(struct cf_backend *cb);
/* After the engine stopped: closes the objects and the device. */
void cf_backend_free(struct cf_backend *cb);
/* Adds the OPEN counters to st. */
void cf_backend_stats(struct cf_backend *cb, struct lading_fill_stats *st);

#endif
