/* SPDX-License-Identifier: MIT */
/*
 * The on-demand filler.  The kernel mounts the bootstrap while the blobs'
 * cache files are still sparse and asks for data only when a process reads
 * it; the filler fetches the chunks, checks each against the ToC anchored
 * in the bootstrap, writes them and only then lets the read go on.  Two
 * kernel interfaces: fanotify pre-content events on a file-backed mount
 * (Linux 6.14+) and the cachefiles on-demand mode (5.19+, needs
 * CONFIG_CACHEFILES_ONDEMAND and CONFIG_EROFS_FS_ONDEMAND).
 */
#ifndef LADING_FILL_H
#define LADING_FILL_H

#include <signal.h>
#include <lading/common.h>
#include <lading/types.h>
#include <lading/trace.h>	/* --record, --prefetch-trace */

enum lading_fill_backend {
	LADING_FILL_AUTO,
	LADING_FILL_FANOTIFY,
	LADING_FILL_CACHEFILES,
};

/* "auto", "fanotify" or "cachefiles" */
LADING_API const char *lading_fill_backend_name(enum lading_fill_backend b);
/* 0, or -EINVAL for an unknown name */
LADING_API int lading_fill_backend_parse(const char *s, enum lading_fill_backend *b);

/* One image served by the cachefiles back end. */
struct lading_fill_image {
	const char *bootstrap;		/* a bootstrap path or an image REF */
	const char *fsid;		/* mount's fsid= (the bootstrap's cookie key) */
	const char *domain_id;		/* mount's domain_id=, or NULL */
};

struct lading_fill_stats {
	uint64_t requests;		/* kernel requests answered */
	uint64_t hits;			/* answered from the cache alone */
	uint64_t chunks_fetched;
	uint64_t bytes_fetched;		/* uncompressed bytes written */
	uint64_t stored_bytes_fetched;	/* bytes read from the source */
	uint64_t fetches;		/* range reads made (runs of chunks) */
	uint64_t readahead_chunks;	/* chunks claimed by readahead */
	uint64_t trace_chunks;		/* queued from a trace (--prefetch-trace
					   or the image's published one) */
	uint64_t verify_failures;	/* chunks that did not match the ToC */
	uint64_t fetch_errors;		/* reads that did not give every chunk */
	uint64_t denied;		/* requests answered with an error */
	uint64_t timeouts;		/* of those, past the request timeout */
	uint64_t blobs_completed;	/* fully present (fanotify: mark removed) */
	uint64_t objects_opened;	/* cachefiles OPEN answered with a size */
	uint64_t objects_refused;	/* cachefiles OPEN answered with an error */
	uint64_t latency_p50_us, latency_p99_us;	/* all requests */
	uint64_t miss_latency_p50_us, miss_latency_p99_us;	/* that fetched */
};

typedef void lading_fill_report_fn(const struct lading_fill_stats *st, void *ud);

/* The readahead lading-fill uses unless told (chosen by bench/fill.sh). */
#define LADING_FILL_READAHEAD_DEFAULT (4u << 20)

struct lading_fill_params {
	enum lading_fill_backend backend;
	/*
	 * mount: one image on one mount point; bootstrap is a path or an
	 * image reference (docker://..., oci:...), resolved as lading_prepare
	 * does, its bootstrap kept in cache_dir
	 */
	const char *bootstrap;
	const char *platform;		/* image references: NULL: the host's */
	const char *mountpoint;
	/* cachefiles: the images (serve), or images[0] made from bootstrap */
	const struct lading_fill_image *images;
	size_t nimages;
	const char *cache_dir;		/* plain or cachefiles layout by back end */
	const char *cachefiles_tag;	/* cachefiles "tag"; NULL: kernel default */
	/* blob dirs or docker://HOST/REPO, tried before each image's repository */
	const char *const *sources;
	size_t nsources;
	struct lading_registry_opts registry;
	unsigned jobs;			/* parallel fetches; 0: 4 */
	unsigned timeout_ms;		/* per kernel request; 0: none */
	bool prefetch;			/* fill the rest in the background */
	const char *prefetch_list;	/* paths (in the image) to read first */
	/*
	 * a trace whose chunks to fetch first; NULL: mount uses the one
	 * published with an image REF, if any
	 */
	const char *prefetch_trace;
	uint64_t readahead;		/* largest window per file, bytes; 0: none */
	const char *record;		/* mount: write the access trace here */
	unsigned record_ms;		/* for this long (0: until unmount) */
	const struct lading_log *log;
	volatile sig_atomic_t *stop;	/* set by SIGTERM/SIGINT: unmount, exit */
	volatile sig_atomic_t *report;	/* set by SIGUSR1: report_fn, cleared */
	lading_fill_report_fn *report_fn;
	void (*ready_fn)(void *ud);	/* serving (and mounted) */
	/* each image, once resolved (before serving) */
	void (*resolved_fn)(const struct lading_resolution *r, void *ud);
	void *ud;
};

/*
 * 0 when this kernel has fanotify pre-content events, else -ENOTSUP with
 * why saying what is missing.
 */
LADING_API int lading_fill_fanotify_supported(struct lading_error *why);
/* The same for /dev/cachefiles (on-demand mode is known only at bind). */
LADING_API int lading_fill_cachefiles_supported(struct lading_error *why);
/*
 * The back end auto picks on this kernel: fanotify when it has pre-content
 * events, else cachefiles when it has the on-demand mode; log (INFO) says
 * which and why.  -ENOTSUP when neither, err saying why.
 */
LADING_API int lading_fill_pick_backend(enum lading_fill_backend *out,
			     const struct lading_log *log, struct lading_error *err);

/*
 * Prepares the cache, starts serving, mounts, serves until *stop, then
 * unmounts.  0, or a negative errno with err saying what failed.
 * fanotify: when readers are left on the detached mount, a guardian
 * process answers them from the cache until the last one is gone (see
 * lading-fill(1)); the caller should ignore SIGIO, which the write lease
 * testing for them raises when an open breaks it.
 */
LADING_API int lading_fill_mount(const struct lading_fill_params *p,
		      struct lading_fill_stats *stats, struct lading_error *err);
/*
 * cachefiles back end for several images: prepares their cachefiles
 * layouts, binds /dev/cachefiles and serves until *stop; mounts are made
 * by others (mount -t erofs none -o fsid=ID[,domain_id=D] DIR).
 */
LADING_API int lading_fill_serve(const struct lading_fill_params *p,
		      struct lading_fill_stats *stats, struct lading_error *err);

#endif
