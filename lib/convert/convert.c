// SPDX-License-Identifier: MIT
/*
 * lading_convert(): source image -> merged tree + one blob per layer with
 * new data -> bootstrap -> OCI image (or a plain directory).  Everything
 * is written into staging directories (lading_outdir) and put in place
 * only when nothing can fail any more, so a failed run leaves every
 * destination (DST, --layer-bootstraps) exactly as it was.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <lading/convert.h>
#include <lading/fetch.h>
#include <lading/format.h>
#include <lading/image.h>
#include <lading/source.h>
#include <lading/trace.h>
#include <lading/tree.h>
#include <lading/build_options.h>
#include <lading/store.h>
#include "internal.h"
#include <lading/convert_keep.h>
#ifdef LADING_HAVE_ZSTD
#include <zstd.h>
#endif

/* bench/coldstart.sh --inline-sweep: a few seconds on a 10 MB bootstrap */
#define BOOTSTRAP_ZSTD_LEVEL 19

struct slot {
	struct lading_blob_record rec;
	/* its digest (rec.id) as text, formatted once: the file name ... */
	char id[LADING_DIGEST_HEX_LEN + 1];
	char oci_digest[LADING_DIGEST_STR_LEN + 1];	/* ... and "sha256:<hex>" */
	ssize_t layer;		/* source layer index, -1 for a dictionary blob */
	char *dict_path;	/* dictionary blobs: where the artifact is */
	/* --keep-layers: the source layer itself, and its seek index */
	bool kept;
	char index_digest[LADING_DIGEST_STR_LEN + 1];
	uint64_t index_size;
};

struct conv {
	const struct lading_convert_params *p;
	struct lading_convert_report *r;
	struct lading_error *err;
	struct lading_image *img;
	struct lading_image_ref dst;
	struct lading_oci_writer *oci;
	struct lading_outdir dir_od;	/* dir: destinations */
	struct lading_outdir lb_od;	/* --layer-bootstraps */
	bool dir_open, lb_open;
	const char *blob_dir;
	struct lading_dedup *dedup;
	struct lading_tree *tree;
	char **dict_paths;	/* per dedup dictionary index */
	size_t ndicts;
	struct slot *slots;	/* by device id - 1 */
	size_t nslots;
	uint8_t blkbits;	/* of the bootstrap: 9 with --keep-layers */
	/* docker:// destinations: a private layout, pushed at the end */
	struct lading_registry *push;
	char *push_ref;
	char *staging;
	char *manifest_json;
	/* publishing: the caller's writer, and what the manifest gets */
	struct lading_convert_into *into;
	struct lading_trace trace;	/* --prefetch-list, loaded first */
};

void lading_convert_params_init(struct lading_convert_params *p)
{
	memset(p, 0, sizeof(*p));
	lading_build_options_init(&p->build);
}

void lading_convert_report_free(struct lading_convert_report *r)
{
	size_t i;

	for (i = 0; i < r->nlayers; i++)
		free(r->layers[i].source_digest);
	for (i = 0; i < r->nblobs; i++)
		free(r->blobs[i]);
	free(r->layers);
	free(r->blobs);
	free(r->attached);
	memset(r, 0, sizeof(*r));
}

static int add_slot(struct conv *c, uint16_t device_id,
		    const struct lading_blob_record *rec, ssize_t layer,
		    const char *dict_path)
{
	struct lading_digest d;
	struct slot *s;

	if (device_id > c->nslots) {
		struct slot *n = realloc(c->slots, device_id * sizeof(*n));

		if (!n)
			return lading_error_set(c->err, ENOMEM, "out of memory");
		memset(n + c->nslots, 0, (device_id - c->nslots) * sizeof(*n));
		c->slots = n;
		c->nslots = device_id;
	}
	s = &c->slots[device_id - 1];
	s->rec = *rec;
	memcpy(d.bytes, rec->id, sizeof(d.bytes));
	lading_digest_hex(&d, s->id);
	lading_digest_format(&d, s->oci_digest);
	s->layer = layer;
	s->dict_path = dict_path ? strdup(dict_path) : NULL;
	return 0;
}

/* ---- chunk dictionaries --------------------------------------------- */

static int load_dict(struct conv *c, const char *bootstrap)
{
	struct lading_reader *reader = NULL;
	char *dir = lading_path_dirname(bootstrap);
	uint16_t i;
	int ret;

	if (!dir)
		return lading_error_set(c->err, ENOMEM, "out of memory");
	ret = lading_reader_open_file(&reader, bootstrap, c->err);
	for (i = 0; !ret && i < lading_reader_nslots(reader); i++) {
		const struct lading_blob_record *rec =
			lading_reader_blob_record(reader, i + 1);
		const struct lading_rslot *slot = lading_reader_slot(reader, i + 1);
		char *path = lading_path_join(dir, slot->tag), **n;
		struct lading_error terr = { 0 };
		struct lading_toc toc;
		int fd;

		if (!rec || !path) {
			free(path);
			ret = lading_error_set(c->err, EINVAL, "chunk dictionary %s: "
					       "not a lading bootstrap", bootstrap);
			break;
		}
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			ret = lading_error_set(c->err, errno, "chunk dictionary %s: "
					       "blob %s: %s", bootstrap, path,
					       strerror(errno));
			free(path);
			break;
		}
		ret = lading_toc_read(fd, rec, &toc, &terr);
		close(fd);
		if (ret) {
			lading_error_set(c->err, -ret, "chunk dictionary %s: blob %s: %s",
					 bootstrap, slot->tag, terr.msg);
			free(path);
			break;
		}
		ret = lading_dedup_add_dict(c->dedup, rec, &toc);
		lading_toc_free(&toc);
		n = realloc(c->dict_paths, (c->ndicts + 1) * sizeof(*n));
		if (ret || !n) {
			free(path);
			ret = lading_error_set(c->err, ENOMEM, "out of memory");
			break;
		}
		c->dict_paths = n;
		c->dict_paths[c->ndicts++] = path;
	}
	if (reader)
		lading_reader_close(reader);
	free(dir);
	return ret;
}

/* ---- layers --------------------------------------------------------- */

/*
 * Loads a layer through its reader.  When a read failed, the reader's
 * reason (the blob too long or short, the URL that broke) is the one
 * message; the tar reader's "read: Input/output error" adds nothing.
 */
static int load_layer(struct conv *c, size_t i, struct lading_tree *tree,
		      struct lading_store *store, struct lading_source_params *src,
		      struct lading_source_stats *st, struct lading_error *err)
{
	struct lading_error lerr = { 0 };
	const char *why;
	int ret;

	ret = lading_image_layer_open(c->img, i, &src->read, &src->read_ud, err);
	if (!ret) {
		ret = lading_source_load(tree, store, src, st, &lerr);
		why = ret ? lading_image_layer_error(c->img, src->read_ud) : NULL;
		if (ret)
			lading_error_set(err, lerr.code ? -lerr.code : -ret, "%s",
					 why ? why : lading_error_message(&lerr, ret));
	}
	lading_image_layer_close(c->img, src->read_ud);
	src->read_ud = NULL;
	return ret;
}

/* --keep-layers: a gzip layer stays as it is, as the next device */
static int keep_layer(struct conv *c, size_t i)
{
	struct lading_convert_layer *out = &c->r->layers[i];
	struct lading_blob_record rec;
	char index_digest[LADING_DIGEST_STR_LEN + 1];
	uint64_t index_size = 0;
	uint16_t dev;
	int ret = lading_dedup_alloc_device(c->dedup, &dev);

	if (ret)
		return lading_error_set(c->err, -ret, "layer %zu: too many blobs", i + 1);
	ret = lading_convert_keep_layer(c->img, i, c->tree, dev, &c->p->build,
					c->p->span_size ? c->p->span_size :
							  LADING_ZRAN_SPAN_DEFAULT,
					c->blob_dir, c->p->log, &rec, index_digest,
					&index_size, out, c->err);
	if (!ret)
		ret = add_slot(c, dev, &rec, (ssize_t)i, NULL);
	if (!ret) {
		c->slots[dev - 1].kept = true;
		memcpy(c->slots[dev - 1].index_digest, index_digest,
		       sizeof(index_digest));
		memcpy(out->seek_index, index_digest, sizeof(out->seek_index));
		c->slots[dev - 1].index_size = index_size;
	}
	return ret;
}

static int convert_layer(struct conv *c, size_t i, struct lading_progress *prog)
{
	const struct lading_convert_params *p = c->p;
	const struct lading_image_layer *L = &c->img->layers[i];
	struct lading_convert_layer *out = &c->r->layers[i];
	struct lading_store_params sp = {
		.blob_dir = c->blob_dir, .dedup = c->dedup,
	};
	struct lading_source_params src = {
		.name = L->digest ? L->digest : L->location,
		.expected_sha256 = L->expected_sha256,
		/* "sha256:<hex>", checked when image.c read the config */
		.expected_diff_id = L->diff_id ? L->diff_id + 7 : NULL,
		.layer = (uint16_t)(i + 1),
		.log = p->log,
		.progress = prog,
	};
	struct lading_source_stats st;
	struct lading_store *store = NULL;
	struct lading_blob_info info;
	struct lading_blob_record rec;
	bool existed;
	int ret;

	if (p->keep_layers && lading_convert_keepable(L->media_type))
		return keep_layer(c, i);
	out->source_digest = L->digest ? strdup(L->digest) : NULL;
	lading_build_options_store(&p->build, &sp);
	lading_build_options_source(&p->build, &src);
	ret = lading_store_open(&store, &sp);
	if (ret)
		return lading_error_set(c->err, -ret, "cannot set up a store");
	ret = load_layer(c, i, c->tree, store, &src, &st, c->err);
	if (!ret)
		ret = lading_store_finish(store, &info);
	if (!ret && info.present)
		ret = lading_store_publish(store, &info, &existed);
	if (ret) {
		if (!c->err->code)
			lading_error_set(c->err, -ret, "layer %zu: %s", i + 1,
					 strerror(-ret));
		lading_store_free(store);
		return ret;
	}
	out->bytes_in = st.raw_bytes;
	out->entries = st.entries;
	out->whiteouts = st.whiteouts + st.opaque_dirs;
	out->chunks_new = lading_store_stats(store)->chunks_stored;
	out->chunks_dedup = lading_store_stats(store)->chunks_dedup;
	out->bytes_dedup = lading_store_stats(store)->bytes_dedup;
	c->r->bytes_saved += out->bytes_dedup;
	if (info.present) {
		memcpy(out->blob_id, info.id, sizeof(out->blob_id));
		out->bytes_out = info.size;
		out->uncompressed = info.uncompressed_size;
		lading_blob_record_from_info(&rec, &info);
		ret = add_slot(c, info.device_id, &rec, (ssize_t)i, NULL);
	}
	lading_store_free(store);
	return ret;
}

/* ---- the bootstrap -------------------------------------------------- */

static int collect_dict_slots(struct conv *c)
{
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < lading_dedup_dict_count(c->dedup); i++) {
		uint16_t dev;
		const struct lading_blob_record *rec = lading_dedup_dict(c->dedup, i, &dev);

		if (!dev)
			continue;
		ret = add_slot(c, dev, rec, -1, c->dict_paths[i]);
		c->r->dict_blobs_used++;
	}
	for (i = 0; !ret && i < c->nslots; i++)
		if (!c->slots[i].id[0])
			ret = lading_error_set(c->err, EINVAL, "internal: slot %zu "
					       "unassigned", i + 1);
	return ret;
}

static int write_bootstrap_of(struct conv *c, struct lading_tree *tree,
			      const char *dir, char *digest, uint64_t *size,
			      uint64_t *inodes)
{
	struct lading_image_slot *slots = calloc(c->nslots ? c->nslots : 1, sizeof(*slots));
	struct lading_blob_record *recs = calloc(c->nslots ? c->nslots : 1, sizeof(*recs));
	struct lading_bootstrap_params ip = { .chunk_size = c->p->build.chunk_size,
					      .blkszbits = c->blkbits };
	struct lading_bootstrap_stats st;
	struct lading_outfile of = { .fd = -1 };
	char hex[LADING_DIGEST_HEX_LEN + 1];
	size_t i;
	int ret;

	if (!slots || !recs) {
		ret = lading_error_set(c->err, ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < c->nslots; i++) {
		memcpy(slots[i].tag, c->slots[i].id, sizeof(slots[i].tag));
		slots[i].blocks = lading_le64_to_cpu(
			c->slots[i].rec.uncompressed_size) >> c->blkbits;
		recs[i] = c->slots[i].rec;
	}
	ip.slots = slots;
	ip.nslots = (uint16_t)c->nslots;
	ip.records = recs;
	ret = lading_outfile_open(&of, dir);
	if (ret) {
		lading_error_set(c->err, -ret, "%s: %s", dir, strerror(-ret));
		goto out;
	}
	ret = lading_bootstrap_write(tree, &ip, of.fd, &st, c->err);
	if (ret)
		goto out;
	lading_digest_hex(&st.digest, hex);
	ret = lading_outfile_commit(&of, hex);
	if (ret) {
		lading_error_set(c->err, -ret, "%s: %s", dir, strerror(-ret));
		goto out;
	}
	lading_digest_format(&st.digest, digest);
	if (size)
		*size = st.blocks << c->blkbits;
	if (inodes)
		*inodes = st.inodes;
out:
	lading_outfile_abort(&of);
	free(slots);
	free(recs);
	return ret;
}

static int write_bootstrap(struct conv *c)
{
	return write_bootstrap_of(c, c->tree, c->blob_dir, c->r->bootstrap_digest,
				  &c->r->bootstrap_size, &c->r->inodes);
}

/*
 * A layer on its own: its tree alone (whiteouts are no-ops there) over
 * the image's blobs.  Every chunk is in the dedup index by now, so the
 * store must write nothing.  A layer that hardlinks into a lower layer
 * cannot stand alone and gets no bootstrap.
 */
static int layer_bootstrap(struct conv *c, size_t i)
{
	const struct lading_image_layer *L = &c->img->layers[i];
	struct lading_store_params sp = {
		.blob_dir = c->blob_dir, .dedup = c->dedup,
	};
	struct lading_source_params src = {
		.name = L->digest ? L->digest : L->location,
		.expected_sha256 = L->expected_sha256,
		.layer = 1,
		.log = c->p->log,
	};
	struct lading_error lerr = { 0 };
	struct lading_source_stats st;
	struct lading_store *store = NULL;
	struct lading_tree *tree = lading_tree_new();
	struct lading_blob_info info;
	int ret;

	lading_build_options_store(&c->p->build, &sp);
	lading_build_options_source(&c->p->build, &src);
	ret = tree ? lading_store_open(&store, &sp) : -ENOMEM;
	if (!ret)
		ret = load_layer(c, i, tree, store, &src, &st, &lerr);
	if (!ret)
		ret = lading_store_finish(store, &info);
	if (!ret && info.present)
		ret = lading_error_set(c->err, EINVAL, "internal: layer %zu found "
				       "new data on its second read", i + 1);
	if (ret == -ENOENT && strstr(lerr.msg, "hardlink")) {
		lading_log_msg(c->p->log, LADING_LOG_WARN, "layer %zu: no standalone "
			       "bootstrap: %s", i + 1, lerr.msg);
		ret = 0;
	} else if (!ret) {
		lading_tree_apply_policy(tree, &c->p->build.policy);
		ret = write_bootstrap_of(c, tree, c->lb_od.stage,
					 c->r->layers[i].layer_bootstrap, NULL, NULL);
	} else if (lerr.code) {
		lading_error_set(c->err, -lerr.code, "%s", lerr.msg);
	}
	lading_store_free(store);
	lading_tree_free(tree);
	return ret;
}

/* ---- the OCI image -------------------------------------------------- */

/*
 * A kept layer: the source layer's own descriptor (so the registry's blob
 * is the one referenced), annotated with its seek index.
 */
/* The annotations every blob descriptor has: sizes and codec. */
static json_t *blob_annotations(const struct slot *s, const char *codec)
{
	char num[32];
	json_t *ann = json_object();

	snprintf(num, sizeof(num), "%llu", (unsigned long long)lading_le64_to_cpu(s->rec.uncompressed_size));
	json_object_set_new(ann, LADING_ANNOTATION_PREFIX "blob.uncompressed-size",
			    json_string(num));
	snprintf(num, sizeof(num), "%u", lading_le32_to_cpu(s->rec.chunk_size));
	json_object_set_new(ann, LADING_ANNOTATION_PREFIX "blob.chunk-size",
			    json_string(num));
	json_object_set_new(ann, LADING_ANNOTATION_PREFIX "blob.codec",
			    json_string(codec));
	return ann;
}

static json_t *kept_descriptor(const struct slot *s, const struct lading_image *img)
{
	const struct lading_image_layer *L = &img->layers[s->layer];
	json_t *ann = blob_annotations(s, "gzip-indexed");

	json_object_set_new(ann, LADING_ANNOTATION_PREFIX "blob.seek-index",
			    json_string(s->index_digest));
	return json_pack("{s:s, s:s, s:I, s:o}", "mediaType", L->media_type,
			 "digest", s->oci_digest, "size",
			 (json_int_t)lading_le64_to_cpu(s->rec.artifact_size),
			 "annotations", ann);
}

static json_t *blob_descriptor(const struct slot *s, const struct lading_image *img)
{
	char toc[LADING_DIGEST_STR_LEN + 1], num[32];
	struct lading_digest td;
	json_t *ann;

	if (s->kept)
		return kept_descriptor(s, img);
	ann = blob_annotations(s, lading_codec_name((enum lading_codec)s->rec.codec));
	memcpy(td.bytes, s->rec.toc_digest, sizeof(td.bytes));
	lading_digest_format(&td, toc);
	json_object_set_new(ann, LADING_ANNOTATION_PREFIX "blob.toc-digest",
			    json_string(toc));
	snprintf(num, sizeof(num), "%llu",
		 (unsigned long long)lading_le64_to_cpu(s->rec.toc_offset));
	json_object_set_new(ann, LADING_ANNOTATION_PREFIX "blob.toc-offset",
			    json_string(num));
	/*
	 * the uncompressed digest: the same whichever transport (compressed
	 * or not) the source came through, so outputs stay identical
	 */
	if (s->layer >= 0 && img->layers[s->layer].diff_id)
		json_object_set_new(ann, LADING_ANNOTATION_PREFIX "blob.source-diff-id",
				    json_string(img->layers[s->layer].diff_id));
	if (s->layer < 0)
		json_object_set_new(ann, LADING_ANNOTATION_PREFIX "blob.chunk-dict",
				    json_string("true"));
	return json_pack("{s:s, s:s, s:I, s:o}", "mediaType", LADING_MEDIA_BLOB,
			 "digest", s->oci_digest, "size", (json_int_t)lading_le64_to_cpu(s->rec.artifact_size),
			 "annotations", ann);
}

/* The source's config with its runtime settings; rootfs names our layers. */
static json_t *make_config(struct conv *c, json_t *diff_ids)
{
	json_t *cfg = NULL;

	if (c->img->config)
		cfg = json_loadb(c->img->config, c->img->config_len, 0, NULL);
	if (!cfg) {
		cfg = json_pack("{s:s, s:s, s:{}}", "architecture",
				c->img->arch ? c->img->arch : "amd64", "os",
				c->img->os ? c->img->os : "linux", "config");
	}
	/* history describes the source layers, which are gone */
	json_object_del(cfg, "history");
	json_object_set_new(cfg, "rootfs", json_pack("{s:s, s:O}", "type", "layers",
						     "diff_ids", diff_ids));
	return cfg;
}

static int put_json(struct conv *c, json_t *j, char *digest, size_t *size)
{
	char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	int ret;

	if (!s)
		return lading_error_set(c->err, ENOMEM, "out of memory");
	*size = strlen(s);
	ret = lading_oci_writer_put(c->oci, s, *size, digest, c->err);
	/* the last document put is the manifest, which a push sends */
	free(c->manifest_json);
	c->manifest_json = s;
	return ret;
}

int lading_convert_push_blobs(struct lading_registry *reg, const char *blob_dir,
			      const char *manifest_json, const char *mount_from,
			      struct lading_error *err)
{
	json_t *man = json_loads(manifest_json, 0, NULL);
	json_t *layers = json_object_get(man, "layers"), *l;
	size_t i;
	int ret = 0;

	if (!man)
		return lading_error_set(err, EINVAL, "internal: manifest JSON");
	for (i = 0; !ret && i <= json_array_size(layers); i++) {
		const char *dg;
		char *path;

		l = i ? json_array_get(layers, i - 1) : json_object_get(man, "config");
		dg = json_string_value(json_object_get(l, "digest"));
		path = dg ? lading_path_join(blob_dir, dg + 7) : NULL;
		if (path && access(path, F_OK)) {
			bool exists = false;

			/* not staged: a kept layer, referenced, never sent */
			ret = lading_registry_blob_exists(reg, dg, &exists, err);
			if (!ret && !exists)
				ret = lading_error_set(err, ENOENT, "%s: a kept layer "
						       "is not in the destination "
						       "repository", dg);
			free(path);
			continue;
		}
		ret = path ? lading_registry_push_blob(reg, path, dg, mount_from, err) :
			     lading_error_set(err, ENOMEM, "out of memory");
		free(path);
	}
	json_decref(man);
	return ret;
}

/*
 * Pushes the staged image: every blob the manifest names (HEAD first, so
 * shared blobs are not sent again), then the manifest under the reference.
 */
static int push_image(struct conv *c)
{
	int ret = lading_convert_push_blobs(c->push, lading_oci_writer_blob_dir(c->oci),
					    c->manifest_json, c->p->registry.mount_from,
					    c->err);

	if (!ret)
		ret = lading_registry_put_manifest(c->push, c->push_ref, c->manifest_json,
						   strlen(c->manifest_json),
						   "application/vnd.oci.image.manifest.v1+json",
						   c->err);
	return ret;
}

/*
 * Publishing: the source manifest as the subject, and when this was
 * made (a descriptor in an index says which form is newest).
 */
static int add_subject(struct conv *c, json_t *man)
{
	const struct lading_image *img = c->img;
	json_t *subject = json_pack("{s:s, s:s, s:I}", "mediaType",
				    img->manifest_media_type, "digest",
				    img->manifest_digest, "size",
				    (json_int_t)img->manifest_size);
	json_t *plat = json_pack("{s:s, s:s}", "os", img->os ? img->os : "linux",
				 "architecture", img->arch ? img->arch : "amd64");

	if (!subject || !plat || !img->manifest_digest) {
		json_decref(subject);
		json_decref(plat);
		return lading_error_set(c->err, ENOMEM, "out of memory");
	}
	if (img->variant)
		json_object_set_new(plat, "variant", json_string(img->variant));
	json_object_set(man, "subject", subject);
	json_object_set_new(json_object_get(man, "annotations"),
			    "org.opencontainers.image.created",
			    json_string(c->into->created));
	c->into->subject = subject;
	c->into->platform = plat;
	return 0;
}

/* Whether the bootstrap layer goes zstd-compressed (docs/format.md). */
static int bootstrap_zstd(struct conv *c, bool *zstd)
{
	const char *bc = c->p->bootstrap_compression;

	/* auto: compressed where it travels, plain where it is mounted */
	*zstd = bc ? !strcmp(bc, "zstd") : (c->into || c->push) &&
		lading_codec_available(LADING_CODEC_ZSTD);
	if (bc && strcmp(bc, "zstd") && strcmp(bc, "none"))
		return lading_error_set(c->err, EINVAL, "--bootstrap-compression %s: "
					"expected zstd or none", bc);
	if (*zstd && !lading_codec_available(LADING_CODEC_ZSTD))
		return lading_error_set(c->err, ENOTSUP, "--bootstrap-compression zstd: "
					"this build has no zstd");
	return 0;
}

/*
 * The bootstrap layer's descriptor: the bootstrap as is, or compressed
 * with zstd (one frame; the descriptor names the compressed bytes, the
 * annotations the bootstrap, whose digest stays its id and diff_id).
 */
static json_t *bootstrap_descriptor(struct conv *c, bool zstd)
{
	char digest[LADING_DIGEST_STR_LEN + 1], num[24], *path;
	size_t len = c->r->bootstrap_size, zlen = 0;
	uint8_t *raw = NULL, *z = NULL;
	json_t *d = NULL;
	int fd, ret;

	if (!zstd)
		return json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType",
				 LADING_MEDIA_BOOTSTRAP, "digest", c->r->bootstrap_digest,
				 "size", (json_int_t)c->r->bootstrap_size, "annotations",
				 LADING_ANNOTATION_PREFIX "bootstrap", "true");
#ifdef LADING_HAVE_ZSTD
	path = lading_path_join(c->blob_dir, c->r->bootstrap_digest + 7);
	fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	raw = malloc(len ? len : 1);
	zlen = ZSTD_compressBound(len);
	z = malloc(zlen);
	ret = fd < 0 ? -errno : !raw || !z ? -ENOMEM : lading_pread_full(fd, raw, len, 0);
	if (fd >= 0)
		close(fd);
	if (!ret) {
		zlen = ZSTD_compress(z, zlen, raw, len, BOOTSTRAP_ZSTD_LEVEL);
		ret = ZSTD_isError(zlen) ? -ENOMEM : 0;
	}
	if (ret)
		lading_error_set(c->err, -ret, "%s: %s", path ? path : "bootstrap",
				 strerror(-ret));
	else if (!lading_oci_writer_put(c->oci, z, zlen, digest, c->err))
		/* the plain bootstrap is not part of the image */
		unlink(path);
	else
		ret = -EIO;
	free(path);
	free(raw);
	free(z);
	if (ret)
		return NULL;
	snprintf(num, sizeof(num), "%zu", len);
	d = json_pack("{s:s, s:s, s:I, s:{s:s, s:s, s:s}}", "mediaType",
		      LADING_MEDIA_BOOTSTRAP_ZSTD, "digest", digest, "size",
		      (json_int_t)zlen, "annotations", LADING_ANNOTATION_PREFIX "bootstrap",
		      "true", LADING_ANNOTATION_BOOTSTRAP_DIGEST, c->r->bootstrap_digest,
		      LADING_ANNOTATION_BOOTSTRAP_SIZE, num);
	if (d) {
		memcpy(c->r->bootstrap_layer_digest, digest, sizeof(digest));
		c->r->bootstrap_layer_size = zlen;
	}
#else
	(void)path, (void)fd, (void)ret, (void)raw, (void)z, (void)zlen, (void)num,
	(void)digest;
#endif
	return d;
}

/*
 * The access trace, published as a layer the manifest names by digest
 * (docs/format.md says why not in the bootstrap): only entries naming
 * blobs of this image, the others dropped with a warning.  No layer when
 * none is left.
 */
static int trace_layer(struct conv *c, json_t *layers, json_t *diff_ids)
{
	struct lading_trace kept = { 0 };
	char digest[LADING_DIGEST_STR_LEN + 1], *buf = NULL;
	size_t i, k, len = 0, dropped = 0;
	int ret = 0;

	for (i = 0; !ret && i < c->trace.n; i++) {
		const struct lading_trace_entry *e = &c->trace.v[i];

		for (k = 0; k < c->nslots && strcmp(c->slots[k].id, e->blob); k++)
			;
		if (k == c->nslots)
			dropped++;
		else
			ret = lading_trace_add(&kept, e->ms, e->blob, e->chunk, e->path);
	}
	if (!ret && dropped)
		lading_log_msg(c->p->log, LADING_LOG_WARN, "%s: %zu of %zu entries name "
			       "no blob of this image%s: dropped", c->p->trace, dropped,
			       c->trace.n, kept.n ? "" : " (all: no trace published)");
	if (!ret && kept.n)
		ret = lading_trace_format(&kept, &buf, &len);
	if (!ret && kept.n)
		ret = lading_oci_writer_put(c->oci, buf, len, digest, c->err);
	else if (ret)
		ret = lading_error_set(c->err, ENOMEM, "out of memory");
	if (!ret && kept.n) {
		json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType",
			LADING_MEDIA_TRACE, "digest", digest, "size", (json_int_t)len));
		json_array_append_new(diff_ids, json_string(digest));
		memcpy(c->r->trace_digest, digest, sizeof(digest));
		c->r->trace_entries = kept.n;
	}
	c->r->trace_dropped = dropped;
	free(buf);
	lading_trace_free(&kept);
	return ret;
}

static int write_oci(struct conv *c)
{
	json_t *layers = json_array(), *diff_ids = json_array(), *cfg, *man;
	char cfg_digest[7 + LADING_DIGEST_HEX_LEN + 1] = "";
	char man_digest[7 + LADING_DIGEST_HEX_LEN + 1] = "";
	size_t cfg_size = 0, man_size = 0, i;
	bool zstd = false;
	int ret = 0;

	for (i = 0; !ret && i < c->nslots; i++) {
		if (c->slots[i].dict_path)
			ret = lading_oci_writer_import(c->oci, c->slots[i].dict_path,
						       c->slots[i].id, c->err);
		json_array_append_new(layers, blob_descriptor(&c->slots[i], c->img));
		json_array_append_new(diff_ids, json_string(c->slots[i].kept ?
			c->img->layers[c->slots[i].layer].diff_id : c->slots[i].oci_digest));
	}
	/* the seek indexes of kept layers, in slot order, before the bootstrap */
	for (i = 0; !ret && i < c->nslots; i++) {
		if (!c->slots[i].kept)
			continue;
		json_array_append_new(layers, json_pack("{s:s, s:s, s:I, s:{s:s}}",
			"mediaType", LADING_MEDIA_SEEK_INDEX,
			"digest", c->slots[i].index_digest,
			"size", (json_int_t)c->slots[i].index_size, "annotations",
			LADING_ANNOTATION_PREFIX "seek-index.layer", c->slots[i].oci_digest));
		json_array_append_new(diff_ids, json_string(c->slots[i].index_digest));
	}
	if (!ret)
		ret = bootstrap_zstd(c, &zstd);
	if (!ret) {
		json_t *bd = bootstrap_descriptor(c, zstd);

		if (bd)
			json_array_append_new(layers, bd);
		else
			ret = c->err->code ? c->err->code : -ENOMEM;
	}
	/* diff_ids are uncompressed digests: the bootstrap's either way */
	json_array_append_new(diff_ids, json_string(c->r->bootstrap_digest));
	if (!ret && c->p->trace)
		ret = trace_layer(c, layers, diff_ids);
	cfg = make_config(c, diff_ids);
	if (!ret)
		ret = put_json(c, cfg, cfg_digest, &cfg_size);
	man = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:O, s:{s:s}}",
			"schemaVersion", 2,
			"mediaType", "application/vnd.oci.image.manifest.v1+json",
			"config", "mediaType", "application/vnd.oci.image.config.v1+json",
			"digest", cfg_digest, "size", (json_int_t)cfg_size,
			"layers", layers,
			"annotations", LADING_ANNOTATION_PREFIX "format", "lading.v1");
	json_object_set_new(man, "artifactType", json_string(LADING_ARTIFACT_TYPE));
	if (!ret && c->into)
		ret = add_subject(c, man);
	if (!ret)
		ret = put_json(c, man, man_digest, &man_size);
	if (!ret && c->into) {
		/* the caller pushes or commits it */
		memcpy(c->into->manifest_digest, man_digest, sizeof(man_digest));
		c->into->manifest_size = man_size;
		c->into->manifest_json = c->manifest_json;
		c->manifest_json = NULL;
	} else if (!ret) {
		ret = lading_oci_writer_commit(c->oci, man_digest, man_size,
					       c->dst.ref ? c->dst.ref : "latest",
					       c->err);
	}
	if (!ret) {
		memcpy(c->r->manifest_digest, man_digest, sizeof(man_digest));
		memcpy(c->r->config_digest, cfg_digest, sizeof(cfg_digest));
	}
	json_decref(man);
	json_decref(cfg);
	json_decref(layers);
	json_decref(diff_ids);
	return ret;
}

/* Puts a staged directory in place: its files merged, or it renamed. */
static int commit_outdir(struct conv *c, struct lading_outdir *od)
{
	int ret = lading_outdir_merge(od, "");

	if (!ret)
		ret = lading_outdir_commit(od);
	if (ret)
		return lading_error_set(c->err, -ret, "%s: %s", od->final,
					strerror(-ret));
	return 0;
}

/* dir: the used dictionary blobs join the others, so the dir stands alone */
static int write_dir(struct conv *c)
{
	size_t i;

	for (i = 0; i < c->nslots; i++) {
		char *dst;
		int ret = 0;

		if (!c->slots[i].dict_path)
			continue;
		dst = lading_path_join(c->blob_dir, c->slots[i].id);
		if (!dst)
			return lading_error_set(c->err, ENOMEM, "out of memory");
		if (access(dst, F_OK) && link(c->slots[i].dict_path, dst))
			ret = lading_error_set(c->err, errno, "%s: %s", dst,
					       strerror(errno));
		free(dst);
		if (ret)
			return ret;
	}
	return commit_outdir(c, &c->dir_od);
}

/* ---- driver --------------------------------------------------------- */

static int open_push(struct conv *c)
{
	char *host, *repo, tmpl[] = "/tmp/lading-push-XXXXXX";
	const char *tmp = getenv("TMPDIR");
	int ret = lading_docker_ref_parse(c->p->dst, &host, &repo, &c->push_ref,
					  c->err);

	if (!ret)
		ret = lading_registry_open(host, repo, &c->p->registry, &c->push, c->err);
	free(host);
	free(repo);
	if (ret)
		return ret;
	c->staging = tmp ? lading_path_join(tmp, "lading-push-XXXXXX") : strdup(tmpl);
	if (!c->staging || !mkdtemp(c->staging))
		return lading_error_set(c->err, errno ? errno : ENOMEM,
					"cannot make a staging directory");
	ret = lading_oci_writer_open(c->staging, &c->oci, c->err);
	if (!ret)
		c->blob_dir = lading_oci_writer_blob_dir(c->oci);
	return ret;
}

static int open_dst(struct conv *c)
{
	int ret;

	if (!strncmp(c->p->dst, "docker://", 9))
		return open_push(c);
	ret = lading_image_ref_parse(c->p->dst, &c->dst, c->err);
	if (ret)
		return ret;
	if (c->dst.transport == LADING_TRANSPORT_OCI) {
		ret = lading_oci_writer_open(c->dst.path, &c->oci, c->err);
		if (!ret)
			c->blob_dir = lading_oci_writer_blob_dir(c->oci);
		return ret;
	}
	if (c->dst.transport == LADING_TRANSPORT_DIR && c->p->trace)
		return lading_error_set(c->err, EINVAL, "%s: --prefetch-list needs an "
					"OCI destination (the trace is a layer of "
					"the manifest)", c->p->dst);
	if (c->dst.transport != LADING_TRANSPORT_DIR)
		return lading_error_set(c->err, EINVAL, "%s: the destination must be "
					"oci:DIR[:REF] or dir:DIR", c->p->dst);
	ret = lading_outdir_open(&c->dir_od, c->dst.path);
	if (ret)
		return lading_error_set(c->err, -ret, "%s: %s", c->dst.path,
					strerror(-ret));
	c->dir_open = true;
	c->blob_dir = c->dir_od.stage;
	return 0;
}

/* --keep-layers: the bootstrap has 512-byte blocks; stored blobs 4 KiB */
static int keep_rescale(struct conv *c)
{
	bool *stored = calloc(c->nslots ? c->nslots : 1, sizeof(*stored));
	size_t i;
	int ret;

	if (!stored)
		return lading_error_set(c->err, ENOMEM, "out of memory");
	for (i = 0; i < c->nslots; i++)
		stored[i] = !c->slots[i].kept;
	ret = lading_convert_rescale(c->tree, stored, c->nslots);
	free(stored);
	if (ret)
		return lading_error_set(c->err, -ret, "a stored blob beyond 2 TiB "
					"cannot be addressed in 512-byte blocks");
	c->blkbits = LADING_KEEP_BLKSZBITS;
	return 0;
}

static int run(struct conv *c)
{
	struct lading_progress prog;
	size_t i;
	int ret;

	/* a bad trace fails before the long part */
	if (c->p->trace && (ret = lading_trace_load(c->p->trace, &c->trace, c->err)))
		return ret;
	ret = lading_image_open(c->p->src, c->p->platform, c->p->layer_files,
				c->p->nlayer_files, &c->p->registry, &c->img, c->err);
	if (!ret && c->into) {
		c->oci = c->into->oci;
		c->blob_dir = lading_oci_writer_blob_dir(c->oci);
	} else if (!ret) {
		ret = open_dst(c);
	}
	if (!ret)
		ret = lading_dedup_new(&c->dedup);
	for (i = 0; !ret && i < c->p->nchunk_dicts; i++)
		ret = load_dict(c, c->p->chunk_dicts[i]);
	if (ret)
		return ret;
	c->tree = lading_tree_new();
	c->r->layers = calloc(c->img->nlayers ? c->img->nlayers : 1,
			      sizeof(*c->r->layers));
	if (!c->tree || !c->r->layers)
		return lading_error_set(c->err, ENOMEM, "out of memory");
	c->r->nlayers = c->img->nlayers;
	for (i = 0; !ret && i < c->img->nlayers; i++) {
		char label[64];

		snprintf(label, sizeof(label), "layer %zu/%zu", i + 1, c->img->nlayers);
		lading_progress_init(&prog, c->p->progress, label,
				     c->img->layers[i].size);
		ret = convert_layer(c, i, &prog);
		lading_progress_finish(&prog);
	}
	if (ret)
		return ret;
	lading_tree_apply_policy(c->tree, &c->p->build.policy);
	ret = collect_dict_slots(c);
	if (!ret && c->p->keep_layers)
		ret = keep_rescale(c);
	if (!ret)
		ret = write_bootstrap(c);
	if (!ret && c->p->layer_bootstraps) {
		ret = lading_outdir_open(&c->lb_od, c->p->layer_bootstraps);
		if (ret)
			return lading_error_set(c->err, -ret, "%s: %s",
						c->p->layer_bootstraps, strerror(-ret));
		c->lb_open = true;
		for (i = 0; !ret && i < c->img->nlayers; i++)
			ret = layer_bootstrap(c, i);
		/* in place before DST; undone if DST then fails */
		if (!ret)
			ret = commit_outdir(c, &c->lb_od);
	}
	if (!ret)
		ret = c->oci ? write_oci(c) : write_dir(c);
	if (!ret && c->push)
		ret = push_image(c);
	if (ret)
		return ret;
	c->r->blobs = calloc(c->nslots ? c->nslots : 1, sizeof(*c->r->blobs));
	if (!c->r->blobs)
		return lading_error_set(c->err, ENOMEM, "out of memory");
	for (i = 0; i < c->nslots; i++)
		c->r->blobs[c->r->nblobs++] = strdup(c->slots[i].id);
	return 0;
}

void lading_convert_into_free(struct lading_convert_into *into)
{
	free(into->manifest_json);
	json_decref(into->subject);
	json_decref(into->platform);
	into->manifest_json = NULL;
	into->subject = into->platform = NULL;
}

static int convert_with(const struct lading_convert_params *p,
			struct lading_convert_into *into,
			struct lading_convert_report *r, struct lading_error *err)
{
	struct conv c = { .p = p, .r = r, .err = err, .into = into,
			  .blkbits = LADING_BLOCK_BITS };
	struct timespec t0, t1;
	size_t i;
	int ret;

	memset(r, 0, sizeof(*r));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = lading_build_options_check(&p->build, err);
	if (ret)
		return ret;
	if (p->keep_layers && p->layer_bootstraps)
		return lading_error_set(err, EINVAL, "--keep-layers and "
					"--layer-bootstraps cannot be combined");
	if (p->keep_layers && p->span_size && !lading_zran_span_valid(p->span_size))
		return lading_error_set(err, EINVAL, "span size %u: not a power of "
					"two in [64K, 64M]", p->span_size);
	ret = run(&c);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	r->elapsed = (double)(t1.tv_sec - t0.tv_sec) +
		     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	for (i = 0; i < c.nslots; i++)
		free(c.slots[i].dict_path);
	for (i = 0; i < c.ndicts; i++)
		free(c.dict_paths[i]);
	free(c.slots);
	free(c.dict_paths);
	lading_tree_free(c.tree);
	lading_trace_free(&c.trace);
	lading_dedup_free(c.dedup);
	/* without a commit, the writer leaves its destination as it was */
	if (!into)
		lading_oci_writer_close(c.oci);
	if (c.dir_open)
		(ret ? lading_outdir_abort : lading_outdir_close)(&c.dir_od);
	if (c.lb_open)
		(ret ? lading_outdir_abort : lading_outdir_close)(&c.lb_od);
	lading_registry_close(c.push);
	if (c.staging)
		lading_remove_tree(c.staging);
	free(c.staging);
	free(c.push_ref);
	free(c.manifest_json);
	lading_image_ref_free(&c.dst);
	lading_image_close(c.img);
	return ret;
}

int lading_convert_platform(const struct lading_convert_params *p,
			    struct lading_convert_into *into,
			    struct lading_convert_report *r, struct lading_error *err)
{
	int ret = convert_with(p, into, r, err);

	if (ret)
		lading_convert_into_free(into);
	return ret;
}

int lading_convert(const struct lading_convert_params *p,
		   struct lading_convert_report *r, struct lading_error *err)
{
	if (p->attach || p->merge_index)
		return lading_convert_publish(p, r, err);
	return convert_with(p, NULL, r, err);
}
