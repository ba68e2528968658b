/* SPDX-License-Identifier: MIT */
/*
 * The plain types the public API takes and reports: what a source is,
 * the tree policy and chunk/codec choices of a build, registry options,
 * and the statistics a build reports.  Below every module: includes only
 * common.h and the on-disk header.
 */
#ifndef LADING_TYPES_H
#define LADING_TYPES_H

#include <signal.h>
#include <lading/common.h>
#include <lading/ondisk.h>

/* ---- sources ---------------------------------------------------------- */

enum lading_source_type {
	LADING_SOURCE_AUTO = 0,	/* a directory if it is one, else a tar */
	LADING_SOURCE_DIR,
	LADING_SOURCE_TAR,
};

/* "auto", "dir" or "tar": 0, or -EINVAL */
LADING_API int lading_source_type_parse(const char *s, enum lading_source_type *type);

/* What a source read (lading-mkimage's report). */
struct lading_source_stats {
	uint64_t entries;	/* archive entries / directory entries read */
	uint64_t regular, directories, symlinks, devices, fifos, sockets;
	uint64_t hardlinks;	/* extra names for an inode already seen */
	uint64_t bytes;		/* regular file bytes (logical sizes) */
	uint64_t inline_files;
	uint64_t replaced;	/* tar entries that replaced an earlier one */
	uint64_t xattrs_skipped;
	uint64_t whiteouts;	/* .wh.NAME entries applied */
	uint64_t opaque_dirs;	/* .wh..wh..opq entries applied */
	char raw_sha256[LADING_DIGEST_HEX_LEN + 1];	/* tar input, if hashed */
	uint64_t raw_bytes;
	char diff_sha256[LADING_DIGEST_HEX_LEN + 1];	/* decompressed, if hashed */
	uint64_t tar_bytes;	/* the decompressed stream's length */
};

/* ---- tree policy ------------------------------------------------------ */

/* Applied to a tree after it is read: what a build normalises. */
struct lading_tree_policy {
	bool clamp_mtime;	/* mtimes after 'mtime' become 'mtime' */
	int64_t mtime;
	bool keep_nsec;		/* else nanoseconds are dropped */
	int64_t force_uid, force_gid;	/* -1: keep */
};

/* ---- chunks and codecs ------------------------------------------------ */

#define LADING_CHUNK_MIN (4u << 10)
#define LADING_CHUNK_MAX (64u << 20)
#define LADING_CHUNK_DEFAULT (1u << 20)

LADING_API bool lading_chunk_size_valid(uint64_t size);

LADING_API const char *lading_codec_name(enum lading_codec c);
LADING_API bool lading_codec_available(enum lading_codec c);
/* "lz4", "zstd:19", ...; -EINVAL unknown, -ENOTSUP not built in. */
LADING_API int lading_codec_parse(const char *s, enum lading_codec *codec, int *level);

/* What the store did with a build's file data. */
struct lading_store_stats {
	uint64_t chunks;	/* chunks seen (incl. holes and duplicates) */
	uint64_t chunks_stored;
	uint64_t chunks_dedup;
	uint64_t chunks_hole;
	uint64_t bytes_in;	/* logical file bytes seen */
	uint64_t bytes_dedup;	/* bytes not stored thanks to dedup */
	uint64_t bytes_hole;	/* bytes not stored as zero/holes */
};

/* One blob artifact written by a build. */
struct lading_blob_info {
	bool present;		/* false: no data, no blob written */
	char id[LADING_DIGEST_HEX_LEN + 1];
	uint8_t digest[LADING_SHA256_LEN];	/* of the whole artifact */
	uint64_t size;		/* artifact bytes */
	uint64_t uncompressed_size;	/* blocks * 4096 */
	uint32_t chunk_size;
	enum lading_codec codec;
	uint64_t toc_offset, toc_size;
	uint8_t toc_digest[LADING_SHA256_LEN];
	uint64_t stored_bytes;	/* chunk bytes in the artifact */
	uint16_t device_id;	/* the slot its chunks reference */
};

/* The bootstrap a build wrote. */
struct lading_bootstrap_stats {
	uint64_t inodes;
	uint64_t compact_inodes, extended_inodes;
	uint64_t inline_bytes;		/* file/dir/symlink bytes in the bootstrap */
	uint64_t blocks;		/* bootstrap size in blocks */
	uint8_t uuid[16];
	struct lading_digest digest;	/* sha256 of the bootstrap */
};

/* ---- registries ------------------------------------------------------- */

struct lading_registry_opts {
	bool plain_http;	/* http:// (loopback tests) instead of https:// */
	bool insecure;		/* https without certificate verification */
	const char *creds;	/* "user:pass"; NULL: docker config, else none */
	const struct lading_log *log;
	int max_retries;	/* 0: the default (4) */
	const char *mount_from;	/* push: try a cross-repository mount first */
	/* when set and non-zero: transfers stop, -ECANCELED (a shutdown) */
	volatile sig_atomic_t *cancel;
	/*
	 * Every read (a document, a range, a whole blob stream with its
	 * resumes) must end within timeout seconds, and a transfer slower
	 * than min_rate bytes/s over min_rate_time seconds is abandoned
	 * (neither is retried).  0: the defaults below.
	 */
	unsigned timeout;
	unsigned min_rate, min_rate_time;
};

#define LADING_REGISTRY_TIMEOUT_DEFAULT 3600		/* seconds */
#define LADING_REGISTRY_MIN_RATE_DEFAULT 1024		/* bytes/s ... */
#define LADING_REGISTRY_MIN_RATE_TIME_DEFAULT 30	/* ... over seconds */

/* ---- image references ------------------------------------------------- */

/*
 * What a node's image reference resolved to (lading_resolve): the tools
 * take REF wherever they took a bootstrap path, and report this.
 */
struct lading_resolution {
	char *reference;		/* as given */
	char *platform;			/* "os/arch[/variant]"; NULL: a path */
	char *manifest_digest;		/* the lading manifest; NULL: a path */
	char *subject_digest;		/* the ordinary manifest it was found for */
	const char *found_by;		/* "manifest", "referrers-api", "tag-schema",
					   "index"; NULL: a bootstrap path */
	char *bootstrap_digest;		/* "sha256:<hex>"; NULL: a path */
	uint64_t bootstrap_size;
	/*
	 * the bootstrap layer as it travels: its size, and for a compressed
	 * one ("zstd") its own digest (NULL: the bootstrap's)
	 */
	uint64_t bootstrap_transport_size;
	char *bootstrap_transport_digest;
	const char *bootstrap_compression;	/* NULL: none */
	char **blob_ids;		/* bare hex, as the manifest lists them */
	size_t nblobs;
	char *repository;		/* docker://HOST/REPO or DIR/blobs/sha256 */
	char *bootstrap_path;		/* the local file (NULL: bootstrap_data) */
	void *bootstrap_data;		/* without a cache dir */
	size_t bootstrap_len;
	bool cached;			/* the cache's record (source unreachable) */
	/*
	 * The access trace published with the image (a manifest layer),
	 * when asked for: fetched (at most its descriptor's size), checked
	 * against its digest and kept in cache_dir/.lading-traces/<hex>
	 * (trace_path) or in memory (trace_data); NULL: none published.
	 */
	char *trace_digest;
	uint64_t trace_size;
	char *trace_path;
	void *trace_data;
	size_t trace_len;
};

#endif
