/* SPDX-License-Identifier: MIT */
/*
 * The on-demand filler: a file-backed EROFS mount over sparse cache files
 * whose reads are held by fanotify pre-content events until the filler
 * has fetched, verified and written the chunks they need.  No byte reaches
 * the kernel unless its sha256 matched the ToC anchored in the bootstrap.
 */
#ifndef LADING_FILL_H
#define LADING_FILL_H

#include <signal.h>
#include <lading/common.h>
#include <lading/fetch.h>

struct lading_fill_params {
	const char *bootstrap;
	const char *cache_dir;		/* plain layout, made if missing */
	const char *mountpoint;
	const char *const *sources;	/* blob dirs or docker://HOST/REPO */
	size_t nsources;
	struct lading_registry_opts registry;
	const struct lading_log *log;
	volatile sig_atomic_t *stop;	/* set by a signal handler: unmount */
};

struct lading_fill_stats {
	uint64_t requests;		/* pre-content events answered */
	uint64_t hits;			/* answered from the cache alone */
	uint64_t chunks_fetched;
	uint64_t bytes_fetched;		/* uncompressed bytes written */
	uint64_t verify_failures;
	uint64_t denied;		/* events answered with an error */
	uint64_t blobs_completed;	/* marks removed: fully present */
	uint64_t latency_p50_us, latency_p99_us;
};

/* True when this kernel has fanotify pre-content events (why if not). */
bool lading_fill_fanotify_supported(char *why, size_t whylen);

/*
 * Prepares the cache, starts serving, mounts, serves until *stop, then
 * unmounts.  0, or a negative errno with err saying what failed.
 */
int lading_fill_mount(const struct lading_fill_params *p,
		      struct lading_fill_stats *stats, struct lading_error *err);

#endif
