/* SPDX-License-Identifier: MIT */
/*
 * Container images: reading OCI layouts, oci-archive and docker-archive
 * files (and plain layer tarballs), every blob checked against the digest
 * that names it; writing OCI layouts atomically (blobs first, index.json
 * last).
 */
#ifndef LADING_IMAGE_H
#define LADING_IMAGE_H

#include <lading/types.h>
#include <lading/util.h>
#include <lading/fetch.h>
#include <lading/source.h>

enum lading_transport {
	LADING_TRANSPORT_OCI,		/* oci:DIR[:REF] */
	LADING_TRANSPORT_OCI_ARCHIVE,	/* oci-archive:FILE[:REF] */
	LADING_TRANSPORT_DOCKER_ARCHIVE,	/* docker-archive:FILE[:REF] */
	LADING_TRANSPORT_DIR,		/* dir:DIR */
	LADING_TRANSPORT_DOCKER,	/* docker://HOST/REPO[:TAG|@DIGEST] */
};

struct lading_image_ref {
	enum lading_transport transport;
	char *path;
	char *ref;		/* NULL: the default */
};

/* Parses "oci:DIR[:REF]" etc.; -EINVAL with a message for anything else. */
int lading_image_ref_parse(const char *s, struct lading_image_ref *out,
			   struct lading_error *err);
void lading_image_ref_free(struct lading_image_ref *r);

struct lading_image_layer {
	char *digest;		/* "sha256:<hex>" as the manifest names it */
	char *media_type;
	uint64_t size;		/* as the descriptor says, if sized */
	bool sized;		/* false: no descriptor (docker-archive, dir:) */
	char *location;		/* file path, or member name in an archive */
	char *expected_sha256;	/* hex the raw bytes must hash to (or NULL) */
	char *diff_id;		/* the config's rootfs.diff_ids entry, or NULL */
};

struct lading_image {
	struct lading_image_ref ref;
	char *config;		/* the source config JSON, verified, or NULL */
	size_t config_len;
	char *config_digest;	/* "sha256:<hex>" or NULL */
	struct lading_image_layer *layers;
	size_t nlayers;
	char *os, *arch, *variant;	/* of the chosen manifest */
	/* the chosen image manifest's descriptor (a subject for referrers) */
	char *manifest_digest, *manifest_media_type;
	uint64_t manifest_size;
};

/*
 * Opens a source image: index, manifest and config are read and checked
 * here; layers are streamed later.  platform is "os/arch[/variant]" (NULL:
 * the host's), layer_files the tarballs of dir:.
 */
int lading_image_open(const char *src, const char *platform,
		      const char *const *layer_files, size_t nlayer_files,
		      const struct lading_registry_opts *registry,
		      struct lading_image **out, struct lading_error *err);
void lading_image_close(struct lading_image *img);

/*
 * What a reference names, before any platform is chosen: the image
 * manifest itself, or the entries of the index it names, each with its
 * descriptor as the source gives it (for an image index rebuilt around
 * them) and, for an image manifest of a platform, that platform.
 */
struct lading_image_entry {
	char *descriptor;	/* compact JSON (a layout's ref.name dropped) */
	char *digest;
	char *platform;		/* "os/arch[/variant]"; NULL: not an image */
};

struct lading_image_list {
	bool is_index;		/* entries are an index's; else one manifest */
	struct lading_image_entry *entries;
	size_t n;
};

/* oci:DIR[:REF] and docker:// references only. */
int lading_image_list_open(const char *src, const struct lading_registry_opts *registry,
			   struct lading_image_list *out, struct lading_error *err);
void lading_image_list_free(struct lading_image_list *l);
/* Whether "os/arch[/variant]" want selects the entry (as --platform does). */
bool lading_image_entry_matches(const struct lading_image_entry *e, const char *want);

/*
 * A reader over layer i's raw bytes (compressed as stored), for the tar
 * source (lading_source_params.read); its expected digest is the layer's
 * expected_sha256.  It reads at most the descriptor's size, and fails
 * when the blob has more or fewer bytes, or is not a regular file; after
 * a read failed, lading_image_layer_error() says why (NULL: the reader
 * has nothing to add to the read's errno).  Close with
 * lading_image_layer_close().
 */
int lading_image_layer_open(struct lading_image *img, size_t i,
			    lading_read_fn *fn, void **ud,
			    struct lading_error *err);
const char *lading_image_layer_error(struct lading_image *img, void *ud);
void lading_image_layer_close(struct lading_image *img, void *ud);

/*
 * Internal, for the fuzz target: the descriptor checks and JSON parsing
 * of one document held in memory.  kind: "index", "manifest" or
 * "config"; 0 when lading_image_open() would accept it as such.
 */
int lading_image_parse_document(const char *kind, const void *buf, size_t len,
				struct lading_error *err);

/* ---- writing an OCI layout ------------------------------------------- */

struct lading_oci_writer;

/*
 * Everything is written into a staging directory (see lading_outdir);
 * an existing index.json that could not be updated fails here.
 */
int lading_oci_writer_open(const char *dir, struct lading_oci_writer **out,
			   struct lading_error *err);
/* Where stores put blob artifacts (staged until the commit). */
const char *lading_oci_writer_blob_dir(const struct lading_oci_writer *w);
/* Adds bytes as a blob (atomically); digest receives "sha256:<hex>". */
int lading_oci_writer_put(struct lading_oci_writer *w, const void *data,
			  size_t len, char *digest, struct lading_error *err);
/* Makes an existing file (another layout's blob) a blob of this one. */
int lading_oci_writer_import(struct lading_oci_writer *w, const char *path,
			     const char *hex, struct lading_error *err);
/*
 * Points ref at the manifest in index.json (replacing that ref, keeping
 * the others), atomically; the image is visible only after this.
 */
int lading_oci_writer_commit(struct lading_oci_writer *w,
			     const char *manifest_digest, size_t manifest_size,
			     const char *ref, struct lading_error *err);
/* The same for a document of another media type (an image index). */
int lading_oci_writer_commit_type(struct lading_oci_writer *w, const char *media_type,
				  const char *manifest_digest, size_t manifest_size,
				  const char *ref, struct lading_error *err);
/*
 * After a commit: done.  Without one: the destination is left exactly as
 * it was (a new one does not exist; an existing one gains nothing).
 */
void lading_oci_writer_close(struct lading_oci_writer *w);

#define LADING_MEDIA_BLOB "application/vnd.lading.blob.v1"
#define LADING_MEDIA_BOOTSTRAP "application/vnd.lading.bootstrap.v1.erofs"
/*
 * The bootstrap layer compressed in transport: the descriptor names the
 * zstd bytes; the annotations the bootstrap (its digest stays its id and
 * its diff_id) and its size, the most a node decompresses.
 */
#define LADING_MEDIA_BOOTSTRAP_ZSTD LADING_MEDIA_BOOTSTRAP "+zstd"
#define LADING_ANNOTATION_BOOTSTRAP_DIGEST "io.lading.bootstrap.uncompressed-digest"
#define LADING_ANNOTATION_BOOTSTRAP_SIZE "io.lading.bootstrap.uncompressed-size"
/* an access trace (lading-trace text) published with the image */
#define LADING_MEDIA_TRACE "application/vnd.lading.trace.v1"
#define LADING_TRACE_BLOB_MAX (256u << 20)	/* = LADING_TRACE_FILE_MAX */
/* the artifactType of every lading manifest (OCI 1.1 referrers) */
#define LADING_ARTIFACT_TYPE "application/vnd.lading.image.v1"
/* the platform "os.features" entry of a lading manifest in an index */
#define LADING_OS_FEATURE "lading.v1"
#define LADING_ANNOTATION_PREFIX "io.lading."
/* A lading manifest's artifactType (OCI 1.1), and its os.features mark. */
#define LADING_ARTIFACT_TYPE "application/vnd.lading.image.v1"
#define LADING_OS_FEATURE "lading.v1"

/* ---- platforms ---------------------------------------------------------- */

struct json_t;
/* desc's platform is want ("os/arch" or "os/arch/variant"). */
bool lading_image_platform_matches(struct json_t *desc, const char *want);
/* "os/arch" of this host, as OCI names it. */
void lading_image_host_platform(char *out, size_t len);

/* ---- resolving a node's image reference ---------------------------------- */

/* ---- image references ------------------------------------------------ */


/* true for docker://... and oci:..., false for a bootstrap path */
bool lading_is_image_ref(const char *s);
void lading_resolution_free(struct lading_resolution *r);

/*
 * The blob sources for an image: the given ones first (mirrors, blob
 * directories), then the image's repository when it has one.  *out is
 * malloc'ed (the strings are borrowed).
 */
int lading_resolution_sources(const struct lading_resolution *r,
			      const char *const *given, size_t ngiven,
			      const char ***out, size_t *n);


/*
 * REF (docker://HOST/REPO[:TAG|@DIGEST], oci:DIR[:REF], or a bootstrap
 * path) to a lading image: index -> platform -> manifest; an ordinary
 * manifest's lading form is found through the referrers API, the
 * referrers tag schema (sha256-<hex>) or the index it was found in, in
 * that order, and must name it as its subject.  The bootstrap is fetched
 * (at most its descriptor's size), checked against its digest and kept in
 * cache_dir/<hex>, and the resolution recorded in cache_dir/.lading-refs/,
 * so that a restart with the registry unreachable uses them (one warning
 * says so).  Without cache_dir the bootstrap is returned in memory.
 * A bootstrap path is passed through (r->bootstrap_path = the path).
 */
struct lading_resolve_params {
	const char *ref;
	const char *platform;		/* NULL: the host's */
	const char *cache_dir;		/* NULL: bootstrap_data instead */
	const struct lading_registry_opts *registry;	/* NULL: defaults */
	const struct lading_log *log;
	/* also the published trace (r->trace_*); a failure only warns */
	bool trace;
};

int lading_resolve(const struct lading_resolve_params *p,
		   struct lading_resolution *r, struct lading_error *err);

#endif
