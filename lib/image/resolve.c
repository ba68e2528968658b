// SPDX-License-Identifier: MIT
/*
 * A node's image reference to a lading image (issue #13's contract):
 * index -> platform -> manifest; a lading manifest is used as is, an
 * ordinary one has its lading form looked up where publishers put it
 * (referrers API, referrers tag schema, the index it came from).  Every
 * document is bounded and checked against the digest that named it, and
 * the bootstrap against its descriptor before it is kept in the cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lading/image.h>
#ifdef LADING_HAVE_ZSTD
#include <zstd.h>
#endif

#define DOC_MAX (4u << 20)			/* manifests, indexes */
#define BOOTSTRAP_MAX (4ull << 30)		/* what the reader takes */
#define RECORD_DIR ".lading-refs"
#define TRACE_DIR ".lading-traces"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define ANN_CREATED "org.opencontainers.image.created"
#define ANN_REF_NAME "org.opencontainers.image.ref.name"

/* Where documents come from: a registry repository or an OCI layout. */
struct rctx {
	const struct lading_resolve_params *p;
	struct lading_resolution *r;
	struct lading_error *err;
	struct lading_registry *reg;	/* docker:// */
	char *dir;			/* oci: */
	char *tag;			/* the reference's tag or digest */
	json_t *layout_index;		/* oci: index.json */
	char refused[1200];		/* why the last candidate was refused */
	bool trace_bad;			/* a bad trace layer seen: none used */
	char boot_digest[LADING_DIGEST_STR_LEN + 1];	/* zstd: the bootstrap's */
};

bool lading_is_image_ref(const char *s)
{
	return !strncmp(s, "docker://", 9) || !strncmp(s, "oci:", 4);
}

void lading_resolution_free(struct lading_resolution *r)
{
	size_t i;

	for (i = 0; i < r->nblobs; i++)
		free(r->blob_ids[i]);
	free(r->blob_ids);
	free(r->reference);
	free(r->platform);
	free(r->manifest_digest);
	free(r->subject_digest);
	free(r->bootstrap_digest);
	free(r->repository);
	free(r->bootstrap_path);
	free(r->bootstrap_data);
	free(r->trace_digest);
	free(r->trace_path);
	free(r->trace_data);
	free(r->bootstrap_transport_digest);
	memset(r, 0, sizeof(*r));
}

int lading_resolution_sources(const struct lading_resolution *r,
			      const char *const *given, size_t ngiven,
			      const char ***out, size_t *n)
{
	const char **v = calloc(ngiven + 2, sizeof(*v));
	size_t i;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < ngiven; i++)
		v[i] = given[i];
	*n = ngiven;
	if (r && r->repository)
		v[(*n)++] = r->repository;
	*out = v;
	return 0;
}

/* ---- documents ---------------------------------------------------------- */

static bool valid_digest(const char *d)
{
	return d && !strncmp(d, LADING_DIGEST_PREFIX, 7) && !lading_digest_parse(d, NULL);
}

static int digest_of(const void *buf, size_t len, char *out)
{
	struct lading_digest d;
	int ret = lading_sha256(buf, len, &d);

	if (!ret)
		lading_digest_format(&d, out);
	return ret;
}

/* An OCI layout's blob, read whole (at most max bytes) and checked. */
static int layout_blob(struct rctx *c, const char *digest, size_t max,
		       char **buf, size_t *len)
{
	char *path = NULL, got[LADING_DIGEST_STR_LEN + 1];
	struct stat st;
	int fd = -1, ret;

	if (!valid_digest(digest))
		return lading_error_set(c->err, EINVAL, "%s: unsupported digest '%s'",
					c->r->reference, digest ? digest : "(none)");
	path = malloc(strlen(c->dir) + 16 + LADING_DIGEST_HEX_LEN);
	if (!path)
		return lading_error_set(c->err, ENOMEM, "out of memory");
	sprintf(path, "%s/blobs/sha256/%s", c->dir, digest + 7);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		ret = lading_error_set(c->err, errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		ret = lading_error_set(c->err, EFBIG, "%s: not a regular file of at "
				       "most %zu bytes", path, max);
		goto out;
	}
	*len = (size_t)st.st_size;
	*buf = malloc(*len + 1);
	ret = *buf ? lading_pread_full(fd, *buf, *len, 0) : -ENOMEM;
	if (!ret)
		ret = digest_of(*buf, *len, got);
	if (!ret && strcmp(got, digest))
		ret = -EBADMSG;
	if (ret) {
		free(*buf);
		*buf = NULL;
		ret = lading_error_set(c->err, -ret, "%s: %s", path, ret == -EBADMSG ?
				       "does not match its digest" : strerror(-ret));
		goto out;
	}
	(*buf)[*len] = '\0';
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return ret;
}

/*
 * A manifest or index named by digest (or, from a registry, by tag), its
 * size checked when known (size < 0: unknown); digest receives its own.
 */
static int get_doc(struct rctx *c, const char *ref, json_int_t size, json_t **out,
		   char *digest)
{
	json_error_t je;
	char *buf = NULL, *mt = NULL;
	size_t len = 0;
	int ret;

	if (c->reg) {
		ret = lading_registry_get_manifest(c->reg, ref, &buf, &len, &mt,
						   digest, c->err);
		free(mt);
	} else {
		ret = layout_blob(c, ref, DOC_MAX, &buf, &len);
		if (!ret)
			snprintf(digest, LADING_DIGEST_STR_LEN + 1, "%s", ref);
	}
	if (ret)
		return ret;
	if (size >= 0 && (size_t)size != len) {
		free(buf);
		return lading_error_set(c->err, EBADMSG, "%s: %s is %zu bytes, its "
					"descriptor says %lld", c->r->reference, ref, len,
					(long long)size);
	}
	*out = json_loadb(buf, len, 0, &je);
	free(buf);
	if (!*out || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return lading_error_set(c->err, EINVAL, "%s: %s: not a JSON object",
					c->r->reference, ref);
	}
	return 0;
}

static int get_desc(struct rctx *c, json_t *desc, json_t **out, char *digest)
{
	const char *d = json_string_value(json_object_get(desc, "digest"));
	json_t *sz = json_object_get(desc, "size");

	if (!valid_digest(d) || !json_is_integer(sz) || json_integer_value(sz) < 0 ||
	    json_integer_value(sz) > DOC_MAX)
		return lading_error_set(c->err, EINVAL, "%s: a descriptor without a "
					"valid digest and size", c->r->reference);
	return get_doc(c, d, json_integer_value(sz), out, digest);
}

/* The layout's index.json entry named tag (NULL: none). */
static json_t *layout_named(struct rctx *c, const char *tag)
{
	json_t *d;
	size_t i;

	json_array_foreach(json_object_get(c->layout_index, "manifests"), i, d) {
		const char *name = json_string_value(
			json_object_get(json_object_get(d, "annotations"), ANN_REF_NAME));

		if (name && !strcmp(name, tag))
			return d;
	}
	return NULL;
}

/* A document by tag: -ENOENT when there is none. */
static int get_tagged(struct rctx *c, const char *tag, json_t **out, char *digest)
{
	json_t *d;

	if (c->reg)
		return get_doc(c, tag, -1, out, digest);
	d = layout_named(c, tag);
	if (!d)
		return -ENOENT;
	return get_desc(c, d, out, digest);
}

/* ---- what a document is ------------------------------------------------- */

static bool is_index(json_t *doc)
{
	const char *mt = json_string_value(json_object_get(doc, "mediaType"));

	if (mt)
		return !strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST);
	return json_is_array(json_object_get(doc, "manifests")) &&
	       !json_object_get(doc, "layers");
}

static bool has_lading_feature(json_t *desc)
{
	json_t *f = json_object_get(json_object_get(desc, "platform"), "os.features"), *v;
	size_t i;

	json_array_foreach(f, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), LADING_OS_FEATURE))
			return true;
	return false;
}

static bool is_lading_type(json_t *o)
{
	const char *at = json_string_value(json_object_get(o, "artifactType"));

	return at && !strcmp(at, LADING_ARTIFACT_TYPE);
}

/*
 * A lading manifest: lading's artifactType or format annotation, and
 * exactly one bootstrap layer (returned).
 */
static json_t *lading_bootstrap_layer(json_t *man)
{
	const char *fmt = json_string_value(json_object_get(
		json_object_get(man, "annotations"), LADING_ANNOTATION_PREFIX "format"));
	json_t *l, *boot = NULL;
	size_t i, n = 0;

	if (!is_lading_type(man) && !(fmt && !strcmp(fmt, "lading.v1")))
		return NULL;
	json_array_foreach(json_object_get(man, "layers"), i, l) {
		const char *mt = json_string_value(json_object_get(l, "mediaType"));

		if (mt && (!strcmp(mt, LADING_MEDIA_BOOTSTRAP) ||
			   !strcmp(mt, LADING_MEDIA_BOOTSTRAP_ZSTD))) {
			boot = l;
			n++;
		}
	}
	return n == 1 ? boot : NULL;
}

static const char *created_of(json_t *o)
{
	return json_string_value(json_object_get(json_object_get(o, "annotations"),
						 ANN_CREATED));
}

/* ---- choosing ----------------------------------------------------------- */

/*
 * The platform's manifest in an index: ordinary descriptors first (the
 * lading alternatives of a merged index are found later, for the one
 * chosen), else a lading one.
 */
static json_t *pick_platform(json_t *index, const char *platform)
{
	json_t *d, *alt = NULL;
	size_t i;

	json_array_foreach(json_object_get(index, "manifests"), i, d) {
		if (!lading_image_platform_matches(d, platform))
			continue;
		if (!is_lading_type(d) && !has_lading_feature(d))
			return d;
		if (!alt)
			alt = d;
	}
	return alt;
}

struct candidate {
	char digest[LADING_DIGEST_STR_LEN + 1];
	char *created;			/* NULL: none */
	json_t *man;
};

/* Newer first; ties: the smaller digest. */
static bool better(const struct candidate *a, const struct candidate *b)
{
	int cmp;

	if (!b->man)
		return true;
	cmp = strcmp(a->created ? a->created : "", b->created ? b->created : "");
	if (cmp)
		return cmp > 0;
	return strcmp(a->digest, b->digest) < 0;
}

/*
 * The lading candidates among descs (filtered by artifactType, and for
 * an index alternative also by platform and os.features) into *best:
 * each fetched, checked against its descriptor and its subject.
 */
static int consider(struct rctx *c, json_t *descs, const char *subject,
		    bool index_alt, struct candidate *best)
{
	json_t *d;
	size_t i;
	int ret;

	json_array_foreach(descs, i, d) {
		struct candidate cand = { 0 };
		const char *sub;

		if (!is_lading_type(d))
			continue;
		if (index_alt && (!lading_image_platform_matches(d, c->r->platform) ||
				  !has_lading_feature(d)))
			continue;
		ret = get_desc(c, d, &cand.man, cand.digest);
		if (ret == -ENOMEM)
			return ret;
		if (ret) {
			snprintf(c->refused, sizeof(c->refused), "%s", c->err->msg);
			lading_error_clear(c->err);
			continue;
		}
		sub = json_string_value(json_object_get(json_object_get(cand.man,
							"subject"), "digest"));
		if (!lading_bootstrap_layer(cand.man) || !sub || strcmp(sub, subject)) {
			snprintf(c->refused, sizeof(c->refused), "%s is %s", cand.digest,
				 !lading_bootstrap_layer(cand.man) ? "not a lading manifest" :
				 "a lading manifest for another subject");
			lading_log_msg(c->p->log, LADING_LOG_WARN, "%s: referrer %s refused: "
				       "its subject is %s, not %s", c->r->reference,
				       cand.digest, sub ? sub : "(none)", subject);
			json_decref(cand.man);
			continue;
		}
		cand.created = created_of(d) ? strdup(created_of(d)) :
			       created_of(cand.man) ? strdup(created_of(cand.man)) : NULL;
		if (better(&cand, best)) {
			json_decref(best->man);
			free(best->created);
			*best = cand;
		} else {
			json_decref(cand.man);
			free(cand.created);
		}
	}
	return 0;
}

static int from_referrers_api(struct rctx *c, const char *subject,
			      struct candidate *best)
{
	struct lading_error e = { 0 };
	char *body = NULL;
	size_t len;
	json_t *idx;
	int ret;

	if (!c->reg || lading_registry_get_referrers(c->reg, subject, &body, &len, &e))
		return 0;	/* no API: go on */
	idx = json_loadb(body, len, 0, NULL);
	free(body);
	ret = idx && is_index(idx) ?
	      consider(c, json_object_get(idx, "manifests"), subject, false, best) : 0;
	json_decref(idx);
	return ret;
}

static int from_tag_schema(struct rctx *c, const char *subject,
			   struct candidate *best)
{
	char tag[8 + LADING_DIGEST_HEX_LEN], dg[LADING_DIGEST_STR_LEN + 1];
	json_t *idx = NULL;
	int ret;

	snprintf(tag, sizeof(tag), "sha256-%s", subject + 7);
	ret = get_tagged(c, tag, &idx, dg);
	if (ret == -ENOENT) {
		lading_error_clear(c->err);
		return 0;
	}
	if (ret)
		return ret;
	ret = is_index(idx) ? consider(c, json_object_get(idx, "manifests"), subject,
				       false, best) : 0;
	json_decref(idx);
	return ret;
}

/* The lading form of the ordinary manifest `subject`, in the contract's order. */
static int find_lading_form(struct rctx *c, const char *subject, json_t *index,
			    json_t **man, char *digest)
{
	static const char *const names[] = { "referrers-api", "tag-schema", "index" };
	struct candidate best = { 0 };
	int step, ret = 0;

	for (step = 0; !ret && !best.man && step < 3; step++) {
		if (step == 0)
			ret = from_referrers_api(c, subject, &best);
		else if (step == 1)
			ret = from_tag_schema(c, subject, &best);
		else if (index)
			ret = consider(c, json_object_get(index, "manifests"), subject,
				       true, &best);
		if (best.man)
			c->r->found_by = names[step];
	}
	if (!ret && !best.man)
		ret = lading_error_set(c->err, ENOENT, "%s: no lading form for %s %s "
				       "(looked in the referrers API, tag sha256-%.12s..."
				       "%s)%s%s", c->r->reference, c->r->platform, subject,
				       subject + 7, index ? " and its index" : "",
				       c->refused[0] ? "; refused: " : "", c->refused);
	if (ret) {
		json_decref(best.man);
		free(best.created);
		return ret;
	}
	lading_log_msg(c->p->log, LADING_LOG_INFO, "%s: lading form %s found by %s%s%s",
		       c->r->reference, best.digest, c->r->found_by,
		       best.created ? ", created " : "", best.created ? best.created : "");
	free(best.created);
	*man = best.man;
	memcpy(digest, best.digest, sizeof(best.digest));
	return 0;
}

/* The document REF names: from a registry by tag/digest, or index.json. */
static int top_document(struct rctx *c, json_t **doc, char *digest)
{
	json_t *d = NULL, *e;
	size_t i, n;
	char *buf = NULL, *path;
	size_t len;
	int ret;

	if (c->reg)
		return get_doc(c, c->tag, -1, doc, digest);
	path = lading_path_join(c->dir, "index.json");
	if (!path)
		return lading_error_set(c->err, ENOMEM, "out of memory");
	{
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		struct stat st;

		ret = fd < 0 ? -errno : fstat(fd, &st) < 0 ? -errno :
		      !S_ISREG(st.st_mode) || st.st_size > DOC_MAX ? -EFBIG : 0;
		if (!ret) {
			len = (size_t)st.st_size;
			buf = malloc(len + 1);
			ret = buf ? lading_pread_full(fd, buf, len, 0) : -ENOMEM;
		}
		if (fd >= 0)
			close(fd);
	}
	if (!ret) {
		c->layout_index = json_loadb(buf, len, 0, NULL);
		ret = json_is_object(c->layout_index) ? 0 : -EINVAL;
	}
	free(buf);
	if (ret) {
		ret = lading_error_set(c->err, -ret, "%s: %s", path, ret == -EINVAL ?
				       "not an image index" : ret == -EFBIG ?
				       "not a regular file of at most 4 MiB" : strerror(-ret));
		free(path);
		return ret;
	}
	free(path);
	if (c->tag) {
		d = layout_named(c, c->tag);
		if (!d)
			return lading_error_set(c->err, ENOENT, "%s: no image named '%s'",
						c->r->reference, c->tag);
	} else {
		d = layout_named(c, "latest");
		n = json_array_size(json_object_get(c->layout_index, "manifests"));
		if (!d && n == 1)
			d = json_array_get(json_object_get(c->layout_index, "manifests"), 0);
		json_array_foreach(json_object_get(c->layout_index, "manifests"), i, e)
			if (!d && lading_image_platform_matches(e, c->r->platform))
				d = e;
		if (!d)
			return lading_error_set(c->err, EINVAL, "%s: %zu images, none "
						"named 'latest': name one", c->r->reference, n);
	}
	return get_desc(c, d, doc, digest);
}

/* ---- the lading manifest's contents --------------------------------------- */

/*
 * The trace layer's descriptor: one at most; a bad one is ignored with a
 * warning (the image mounts without it).
 */
static int take_trace(struct rctx *c, json_t *l, const char *digest)
{
	struct lading_resolution *r = c->r;
	const char *d = json_string_value(json_object_get(l, "digest"));
	json_t *sz = json_object_get(l, "size");

	if (r->trace_digest || !valid_digest(d) || !json_is_integer(sz) ||
	    json_integer_value(sz) <= 0 ||
	    (uint64_t)json_integer_value(sz) > LADING_TRACE_BLOB_MAX) {
		lading_log_msg(c->p->log, LADING_LOG_WARN, "%s: manifest %s: %s: "
			       "no trace used", r->reference, digest, r->trace_digest ?
			       "more than one trace layer" : "a trace layer without "
			       "a valid digest and size (at most 256 MiB)");
		free(r->trace_digest);
		r->trace_digest = NULL;
		r->trace_size = 0;
		c->trace_bad = true;
		return 0;
	}
	if (c->trace_bad)
		return 0;
	r->trace_digest = strdup(d);
	r->trace_size = (uint64_t)json_integer_value(sz);
	return r->trace_digest ? 0 : lading_error_set(c->err, ENOMEM, "out of memory");
}

/*
 * A zstd bootstrap layer: the descriptor names the compressed bytes, its
 * annotations the bootstrap itself (digest: the bootstrap id; size: the
 * most the node decompresses).
 */
static int take_compressed(struct rctx *c, json_t *boot, const char *digest)
{
	json_t *ann = json_object_get(boot, "annotations");
	const char *ud = json_string_value(json_object_get(ann, LADING_ANNOTATION_BOOTSTRAP_DIGEST));
	const char *us = json_string_value(json_object_get(ann, LADING_ANNOTATION_BOOTSTRAP_SIZE));
	int64_t size = 0;

#ifndef LADING_HAVE_ZSTD
	return lading_error_set(c->err, ENOTSUP, "%s: manifest %s: a zstd bootstrap "
				"layer, and this build has no zstd", c->r->reference, digest);
#endif
	if (!valid_digest(ud) || !us ||
	    lading_parse_int64(us, 1, (int64_t)BOOTSTRAP_MAX, &size) ||
	    size % 512)	/* whole blocks: 4 KiB, or 512 bytes (kept layers) */
		return lading_error_set(c->err, EINVAL, "%s: manifest %s: the zstd "
					"bootstrap layer has no valid %s and %s annotations "
					"(a digest; a size of at most 4 GiB, in whole blocks)",
					c->r->reference, digest,
					LADING_ANNOTATION_BOOTSTRAP_DIGEST,
					LADING_ANNOTATION_BOOTSTRAP_SIZE);
	snprintf(c->boot_digest, sizeof(c->boot_digest), "%s",
		 json_string_value(json_object_get(boot, "digest")));
	c->r->bootstrap_transport_digest = strdup(c->boot_digest);
	snprintf(c->boot_digest, sizeof(c->boot_digest), "%s", ud);
	c->r->bootstrap_size = (uint64_t)size;
	c->r->bootstrap_compression = "zstd";
	return c->r->bootstrap_transport_digest ? 0 :
	       lading_error_set(c->err, ENOMEM, "out of memory");
}

static int take_manifest(struct rctx *c, json_t *man, const char *digest)
{
	struct lading_resolution *r = c->r;
	json_t *boot = lading_bootstrap_layer(man), *l, *sz;
	const char *bd = json_string_value(json_object_get(boot, "digest"));
	size_t i;
	int ret;

	sz = json_object_get(boot, "size");
	if (!valid_digest(bd) || !json_is_integer(sz) || json_integer_value(sz) <= 0 ||
	    (uint64_t)json_integer_value(sz) > BOOTSTRAP_MAX)
		return lading_error_set(c->err, EINVAL, "%s: manifest %s: the bootstrap "
					"descriptor has no valid digest and size (at most "
					"4 GiB)", r->reference, digest);
	r->manifest_digest = strdup(digest);
	r->bootstrap_transport_size = (uint64_t)json_integer_value(sz);
	if (!strcmp(json_string_value(json_object_get(boot, "mediaType")),
		    LADING_MEDIA_BOOTSTRAP_ZSTD)) {
		ret = take_compressed(c, boot, digest);
		if (ret)
			return ret;
		bd = c->boot_digest;
	} else {
		r->bootstrap_size = r->bootstrap_transport_size;
	}
	r->bootstrap_digest = strdup(bd);
	r->blob_ids = calloc(json_array_size(json_object_get(man, "layers")) + 1,
			     sizeof(*r->blob_ids));
	if (!r->manifest_digest || !r->bootstrap_digest || !r->blob_ids)
		return lading_error_set(c->err, ENOMEM, "out of memory");
	json_array_foreach(json_object_get(man, "layers"), i, l) {
		const char *mt = json_string_value(json_object_get(l, "mediaType"));
		const char *d = json_string_value(json_object_get(l, "digest"));

		if (mt && !strcmp(mt, LADING_MEDIA_TRACE)) {
			ret = take_trace(c, l, digest);
			if (ret)
				return ret;
			continue;
		}
		/* lading blobs, and gzip layers kept as they are (their seek index) */
		if (!mt || (strcmp(mt, LADING_MEDIA_BLOB) &&
			    !json_object_get(json_object_get(l, "annotations"),
					     LADING_ANNOTATION_PREFIX "blob.seek-index")))
			continue;
		if (!valid_digest(d))
			return lading_error_set(c->err, EINVAL, "%s: manifest %s: a blob "
						"without a valid digest", r->reference, digest);
		r->blob_ids[r->nblobs] = strdup(d + 7);
		if (!r->blob_ids[r->nblobs++])
			return lading_error_set(c->err, ENOMEM, "out of memory");
	}
	return 0;
}

static int resolve_remote(struct rctx *c)
{
	char dg[LADING_DIGEST_STR_LEN + 1], mdg[LADING_DIGEST_STR_LEN + 1];
	json_t *doc = NULL, *index = NULL, *man = NULL, *desc;
	int ret;

	ret = top_document(c, &doc, dg);
	if (ret)
		return ret;
	if (is_index(doc)) {
		index = doc;
		desc = pick_platform(index, c->r->platform);
		if (!desc) {
			json_decref(index);
			return lading_error_set(c->err, ENOENT, "%s: index %s has no image "
						"for %s", c->r->reference, dg, c->r->platform);
		}
		ret = get_desc(c, desc, &man, dg);
		if (!ret && is_index(man))
			ret = lading_error_set(c->err, EINVAL, "%s: index %s: nested "
					       "indexes are not followed", c->r->reference, dg);
	} else {
		man = doc;
	}
	if (!ret && lading_bootstrap_layer(man)) {
		c->r->found_by = "manifest";
		ret = take_manifest(c, man, dg);
	} else if (!ret) {
		json_t *lman = NULL;

		c->r->subject_digest = strdup(dg);
		ret = c->r->subject_digest ? find_lading_form(c, dg, index, &lman, mdg) :
		      lading_error_set(c->err, ENOMEM, "out of memory");
		if (!ret)
			ret = take_manifest(c, lman, mdg);
		json_decref(lman);
	}
	if (man != doc)
		json_decref(man);
	json_decref(doc);
	return ret;
}

/* ---- the bootstrap ------------------------------------------------------ */

struct sink {
	int fd;				/* the outfile, or -1: buf */
	uint8_t *buf;
	uint64_t len, max;
	struct lading_sha256_ctx sha;
#ifdef LADING_HAVE_ZSTD
	/*
	 * a zstd layer: its bytes (at most zmax) hashed into zsha and
	 * decompressed into the above, one frame and nothing after it
	 */
	ZSTD_DStream *zd;
	struct lading_sha256_ctx zsha;
	uint64_t zlen, zmax;
	size_t zleft;			/* 0: the frame is complete */
	uint8_t *zout;
#endif
};

static int sink_write(struct sink *s, const void *p, size_t n)
{
	if (s->len + n > s->max)
		return -EFBIG;
	if (lading_sha256_update(&s->sha, p, n))
		return -ENOMEM;
	if (s->fd >= 0) {
		int ret = lading_write_full(s->fd, p, n);

		if (ret)
			return ret;
	} else {
		memcpy(s->buf + s->len, p, n);
	}
	s->len += n;
	return 0;
}

static int sink_put(struct sink *s, const void *p, size_t n)
{
#ifdef LADING_HAVE_ZSTD
	ZSTD_inBuffer in = { p, n, 0 };

	if (!s->zd)
		return sink_write(s, p, n);
	if (s->zlen + n > s->zmax)
		return -EFBIG;
	if (lading_sha256_update(&s->zsha, p, n))
		return -ENOMEM;
	s->zlen += n;
	while (in.pos < in.size) {
		ZSTD_outBuffer out = { s->zout, ZSTD_DStreamOutSize(), 0 };
		int ret;

		if (!s->zleft)
			return -EBADMSG;	/* data after the frame */
		s->zleft = ZSTD_decompressStream(s->zd, &out, &in);
		if (ZSTD_isError(s->zleft))
			return -EBADMSG;
		ret = sink_write(s, s->zout, out.pos);
		if (ret)
			return ret == -EFBIG ? -E2BIG : ret;
	}
	return 0;
#else
	return sink_write(s, p, n);
#endif
}

/* Streams a blob into s (at most s->max bytes); the caller checks it. */
static int fetch_blob(struct rctx *c, const char *what, const char *digest,
		      uint64_t size, struct sink *s)
{
	uint8_t *chunk = malloc(1 << 16);
	lading_read_fn fn = NULL;
	void *ud = NULL;
	char *path = NULL;
	int fd = -1, ret = chunk ? 0 : -ENOMEM;

	if (!ret && c->reg) {
		ret = lading_registry_blob_stream(c->reg, digest, size, &fn, &ud, c->err);
		if (ret) {
			free(chunk);
			return ret;
		}
	} else if (!ret) {
		path = malloc(strlen(c->dir) + 16 + LADING_DIGEST_HEX_LEN);
		if (path)
			sprintf(path, "%s/blobs/sha256/%s", c->dir, digest + 7);
		fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY) : -1;
		if (fd < 0)
			ret = lading_error_set(c->err, errno, "%s: %s", path ? path :
					       digest, strerror(errno));
	}
	while (!ret) {
		ssize_t n = c->reg ? fn(ud, chunk, 1 << 16) : read(fd, chunk, 1 << 16);

		if (n < 0 && !c->reg && errno == EINTR)
			continue;
		if (n < 0) {
			const char *why = c->reg ? lading_registry_blob_stream_error(ud) : NULL;

			ret = lading_error_set(c->err, EIO, "%s: %s %s: %s",
					       c->r->reference, what, digest, why ? why :
					       strerror(errno));
			break;
		}
		if (n == 0)
			break;
		ret = sink_put(s, chunk, (size_t)n);
		if (ret)
			ret = lading_error_set(c->err, ret == -E2BIG ? EFBIG : -ret,
					       "%s: %s %s: %s", c->r->reference, what,
					       digest, ret == -EFBIG ?
					       "larger than its descriptor says" :
					       ret == -E2BIG ? "decompresses to more than "
					       "its annotations say" : ret == -EBADMSG ?
					       "not one valid zstd frame" : strerror(-ret));
	}
	if (ud)
		lading_registry_blob_stream_close(ud);
	if (fd >= 0)
		close(fd);
	free(path);
	free(chunk);
	return ret;
}

#ifdef LADING_HAVE_ZSTD
/* The zstd layer: fetched, decompressed, its own digest checked here. */
static int fetch_zstd(struct rctx *c, struct sink *s)
{
	const struct lading_resolution *r = c->r;
	struct lading_digest d;
	char got[LADING_DIGEST_STR_LEN + 1];
	int ret = 0;

	s->zmax = r->bootstrap_transport_size;
	s->zleft = 1;
	s->zd = ZSTD_createDStream();
	s->zout = malloc(ZSTD_DStreamOutSize());
	if (!s->zd || !s->zout || ZSTD_isError(ZSTD_initDStream(s->zd)) ||
	    lading_sha256_init(&s->zsha))
		ret = lading_error_set(c->err, ENOMEM, "out of memory");
	if (!ret)
		ret = fetch_blob(c, "bootstrap layer", r->bootstrap_transport_digest,
				 r->bootstrap_transport_size, s);
	if (!ret && s->zleft)
		ret = lading_error_set(c->err, EBADMSG, "%s: bootstrap layer %s: the "
				       "zstd frame is truncated", r->reference,
				       r->bootstrap_transport_digest);
	if (!ret && lading_sha256_final(&s->zsha, &d))
		ret = lading_error_set(c->err, ENOMEM, "out of memory");
	if (!ret) {
		lading_digest_format(&d, got);
		if (s->zlen != r->bootstrap_transport_size ||
		    strcmp(got, r->bootstrap_transport_digest))
			ret = lading_error_set(c->err, EBADMSG, "%s: bootstrap layer "
					       "%s: received %llu bytes hashing to %s: "
					       "not what its descriptor says (%llu bytes)",
					       r->reference, r->bootstrap_transport_digest,
					       (unsigned long long)s->zlen, got,
					       (unsigned long long)r->bootstrap_transport_size);
	}
	lading_sha256_free(&s->zsha);
	ZSTD_freeDStream(s->zd);
	free(s->zout);
	s->zd = NULL;
	s->zout = NULL;
	return ret;
}
#endif

/* The bootstrap, or its zstd layer decompressed (both digests checked). */
static int fetch_bootstrap(struct rctx *c, struct sink *s)
{
#ifdef LADING_HAVE_ZSTD
	if (c->r->bootstrap_compression)
		return fetch_zstd(c, s);
#endif
	return fetch_blob(c, "bootstrap", c->r->bootstrap_digest, c->r->bootstrap_size, s);
}

static int check_sink_as(struct rctx *c, struct sink *s, const char *what,
			 const char *digest, uint64_t size)
{
	struct lading_digest d;
	char got[LADING_DIGEST_STR_LEN + 1];
	int ret = lading_sha256_final(&s->sha, &d);

	lading_sha256_free(&s->sha);
	if (ret)
		return lading_error_set(c->err, ENOMEM, "out of memory");
	lading_digest_format(&d, got);
	if (s->len != size || strcmp(got, digest))
		return lading_error_set(c->err, EBADMSG, "%s: %s %s: received "
					"%llu bytes hashing to %s: not what its descriptor "
					"says (%llu bytes)", c->r->reference, what, digest,
					(unsigned long long)s->len, got,
					(unsigned long long)size);
	return 0;
}

static int check_sink(struct rctx *c, struct sink *s)
{
	return check_sink_as(c, s, "bootstrap", c->r->bootstrap_digest,
			     c->r->bootstrap_size);
}

/* A cached copy at path that hashes to the descriptor's digest. */
static bool cached_ok_as(const char *path, const char *digest, uint64_t size)
{
	struct lading_digest d;
	char got[LADING_DIGEST_STR_LEN + 1];
	uint64_t bytes = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), ret;

	if (fd < 0)
		return false;
	ret = lading_sha256_fd(fd, &d, &bytes);
	close(fd);
	if (ret)
		return false;
	lading_digest_format(&d, got);
	return bytes == size && !strcmp(got, digest);
}

static bool cached_ok(const char *path, const struct lading_resolution *r)
{
	return cached_ok_as(path, r->bootstrap_digest, r->bootstrap_size);
}

/*
 * A fetched and checked download (ret 0) goes to its place: committed as
 * its hex in the cache when it went to a file, else handed over in
 * memory.  On failure nothing is kept.
 */
static int keep_download(struct rctx *c, int ret, struct sink *s,
			 struct lading_outfile *of, const char *digest,
			 const char *path, void **data, size_t *len)
{
	if (s->fd >= 0) {
		if (!ret && (ret = lading_outfile_commit(of, digest + 7)))
			lading_error_set(c->err, -ret, "%s: %s", path, strerror(-ret));
		lading_outfile_abort(of);
		return ret;
	}
	if (ret) {
		free(s->buf);
		return ret;
	}
	*data = s->buf;
	*len = (size_t)s->len;
	return 0;
}

/* The bootstrap into cache_dir/<hex> (kept if already there), or memory. */
static int place_bootstrap(struct rctx *c)
{
	struct lading_resolution *r = c->r;
	struct sink s = { .fd = -1, .max = r->bootstrap_size };
	struct lading_outfile of;
	int ret;

	if (c->p->cache_dir) {
		r->bootstrap_path = lading_path_join(c->p->cache_dir, r->bootstrap_digest + 7);
		if (!r->bootstrap_path)
			return lading_error_set(c->err, ENOMEM, "out of memory");
		if (cached_ok(r->bootstrap_path, r))
			return 0;
		if (r->cached)
			return lading_error_set(c->err, ENOENT, "%s: the cached bootstrap "
						"%s is missing or damaged, and the source "
						"cannot be reached", r->reference,
						r->bootstrap_path);
		ret = lading_mkdir_p(c->p->cache_dir);
		if (!ret) {
			lading_outfile_sweep(c->p->cache_dir);
			ret = lading_outfile_open(&of, c->p->cache_dir);
		}
		if (ret)
			return lading_error_set(c->err, -ret, "%s: %s", c->p->cache_dir,
						strerror(-ret));
		s.fd = of.fd;
	} else {
		s.buf = malloc(r->bootstrap_size);
		if (!s.buf)
			return lading_error_set(c->err, ENOMEM, "%s: bootstrap of %llu "
						"bytes: out of memory", r->reference,
						(unsigned long long)r->bootstrap_size);
	}
	ret = lading_sha256_init(&s.sha) ? lading_error_set(c->err, ENOMEM,
							    "out of memory") : 0;
	if (!ret)
		ret = fetch_bootstrap(c, &s);
	if (!ret)
		ret = check_sink(c, &s);
	else
		lading_sha256_free(&s.sha);
	return keep_download(c, ret, &s, &of, r->bootstrap_digest, r->bootstrap_path,
			     &r->bootstrap_data, &r->bootstrap_len);
}

/* The trace into cache_dir/.lading-traces/<hex> (kept if there), or memory. */
static int fetch_trace(struct rctx *c)
{
	struct lading_resolution *r = c->r;
	struct sink s = { .fd = -1, .max = r->trace_size };
	struct lading_outfile of = { .fd = -1 };
	char *dir = NULL;
	int ret = 0;

	if (c->p->cache_dir) {
		dir = lading_path_join(c->p->cache_dir, TRACE_DIR);
		r->trace_path = dir ? lading_path_join(dir, r->trace_digest + 7) : NULL;
		if (!r->trace_path) {
			free(dir);
			return lading_error_set(c->err, ENOMEM, "out of memory");
		}
		if (cached_ok_as(r->trace_path, r->trace_digest, r->trace_size)) {
			free(dir);
			return 0;
		}
		if (r->cached) {
			free(dir);
			return lading_error_set(c->err, ENOENT, "%s: the cached trace %s "
						"is missing or damaged, and the source "
						"cannot be reached", r->reference,
						r->trace_path);
		}
		ret = lading_mkdir_p(dir);
		if (!ret) {
			lading_outfile_sweep(dir);
			ret = lading_outfile_open(&of, dir);
		}
		free(dir);
		if (ret)
			return lading_error_set(c->err, -ret, "%s: %s", r->trace_path,
						strerror(-ret));
		s.fd = of.fd;
	} else {
		s.buf = malloc(r->trace_size);
		if (!s.buf)
			return lading_error_set(c->err, ENOMEM, "out of memory");
	}
	ret = lading_sha256_init(&s.sha) ? lading_error_set(c->err, ENOMEM,
							    "out of memory") : 0;
	if (!ret)
		ret = fetch_blob(c, "trace", r->trace_digest, r->trace_size, &s);
	if (!ret)
		ret = check_sink_as(c, &s, "trace", r->trace_digest, r->trace_size);
	else
		lading_sha256_free(&s.sha);
	return keep_download(c, ret, &s, &of, r->trace_digest, r->trace_path,
			     &r->trace_data, &r->trace_len);
}

/*
 * The published trace, when asked for: only an optimisation, so a
 * failure warns and the image is used without it (nothing unchecked is
 * kept either way).
 */
static int place_trace(struct rctx *c)
{
	struct lading_resolution *r = c->r;
	struct lading_error e = { 0 }, *saved = c->err;
	int ret;

	/* not asked for: named (and recorded), not fetched */
	if (!c->p->trace || !r->trace_digest)
		return 0;
	c->err = &e;
	ret = fetch_trace(c);
	c->err = saved;
	if (ret == -ENOMEM)
		return lading_error_set(c->err, ENOMEM, "out of memory");
	if (ret) {
		lading_log_msg(c->p->log, LADING_LOG_WARN, "%s: the published trace "
			       "is not used: %s", r->reference, e.msg);
		free(r->trace_digest);
		free(r->trace_path);
		r->trace_digest = r->trace_path = NULL;
		r->trace_size = 0;
	}
	return 0;
}

/* ---- the record in the cache --------------------------------------------- */

/* cache_dir/.lading-refs/<sha256 of "REF\nPLATFORM">.json */
static char *record_name(const struct lading_resolution *r)
{
	struct lading_digest d;
	char hex[LADING_DIGEST_HEX_LEN + 1], *key, *name;
	size_t n = strlen(r->reference) + strlen(r->platform) + 2;

	key = malloc(n);
	if (!key)
		return NULL;
	snprintf(key, n, "%s\n%s", r->reference, r->platform);
	if (lading_sha256(key, n - 1, &d)) {
		free(key);
		return NULL;
	}
	free(key);
	lading_digest_hex(&d, hex);
	name = malloc(LADING_DIGEST_HEX_LEN + 6);
	if (name)
		sprintf(name, "%s.json", hex);
	return name;
}

static int write_record(struct rctx *c)
{
	const struct lading_resolution *r = c->r;
	json_t *o = json_object(), *ids = json_array();
	char *dir = lading_path_join(c->p->cache_dir, RECORD_DIR), *name = record_name(r);
	char *text = NULL;
	struct lading_outfile of;
	size_t i;
	int ret = o && ids && dir && name ? 0 : -ENOMEM;

	for (i = 0; !ret && i < r->nblobs; i++)
		json_array_append_new(ids, json_string(r->blob_ids[i]));
	if (!ret) {
		json_object_set_new(o, "reference", lading_json_str(r->reference));
		json_object_set_new(o, "platform", json_string(r->platform));
		json_object_set_new(o, "manifest_digest", json_string(r->manifest_digest));
		json_object_set_new(o, "subject_digest", lading_json_str_or_null(r->subject_digest));
		json_object_set_new(o, "found_by", json_string(r->found_by));
		json_object_set_new(o, "bootstrap_digest", json_string(r->bootstrap_digest));
		json_object_set_new(o, "bootstrap_size", lading_json_u64(r->bootstrap_size));
		json_object_set_new(o, "repository", lading_json_str(r->repository));
		json_object_set_new(o, "blob_ids", ids);
		json_object_set_new(o, "trace_digest", lading_json_str_or_null(r->trace_digest));
		json_object_set_new(o, "trace_size", lading_json_u64(r->trace_size));
		ids = NULL;
		text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
		ret = text ? lading_mkdir_p(dir) : -ENOMEM;
	}
	if (!ret)
		ret = lading_outfile_open(&of, dir);
	if (!ret) {
		ret = lading_write_full(of.fd, text, strlen(text));
		if (!ret)
			ret = lading_write_full(of.fd, "\n", 1);
		if (!ret)
			ret = lading_outfile_commit(&of, name);
		lading_outfile_abort(&of);
	}
	if (ret)
		lading_error_set(c->err, -ret, "%s/%s: %s", dir ? dir : RECORD_DIR,
				 name ? name : "", strerror(-ret));
	free(text);
	json_decref(ids);
	json_decref(o);
	free(dir);
	free(name);
	return ret;
}

static char *dup_field(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? strdup(s) : NULL;
}

static const char *found_by_name(const char *s)
{
	static const char *const names[] = { "manifest", "referrers-api",
					     "tag-schema", "index" };
	size_t i;

	for (i = 0; s && i < LADING_ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i]))
			return names[i];
	return NULL;
}

/* The resolution an earlier run recorded; -ENOENT when there is none. */
static int read_record(struct rctx *c)
{
	struct lading_resolution *r = c->r;
	char *dir = lading_path_join(c->p->cache_dir, RECORD_DIR), *name = record_name(r);
	char *path = dir && name ? lading_path_join(dir, name) : NULL;
	json_t *o = path ? json_load_file(path, JSON_REJECT_DUPLICATES, NULL) : NULL;
	json_t *ids = json_object_get(o, "blob_ids"), *v, *sz;
	size_t i;
	int ret = -EINVAL;

	sz = json_object_get(o, "bootstrap_size");
	free(r->repository);	/* the recorded one is what was used */
	r->manifest_digest = dup_field(o, "manifest_digest");
	r->subject_digest = dup_field(o, "subject_digest");
	r->bootstrap_digest = dup_field(o, "bootstrap_digest");
	r->repository = dup_field(o, "repository");
	r->found_by = found_by_name(json_string_value(json_object_get(o, "found_by")));
	r->trace_digest = dup_field(o, "trace_digest");
	if (r->trace_digest && (!valid_digest(r->trace_digest) ||
	    !json_is_integer(json_object_get(o, "trace_size")) ||
	    json_integer_value(json_object_get(o, "trace_size")) <= 0 ||
	    json_integer_value(json_object_get(o, "trace_size")) > LADING_TRACE_BLOB_MAX)) {
		free(r->trace_digest);
		r->trace_digest = NULL;
	}
	if (r->trace_digest)
		r->trace_size = (uint64_t)json_integer_value(json_object_get(o, "trace_size"));
	if (o && valid_digest(r->manifest_digest) && valid_digest(r->bootstrap_digest) &&
	    r->found_by && r->repository && json_is_integer(sz) &&
	    json_integer_value(sz) > 0 && json_is_array(ids)) {
		r->bootstrap_size = (uint64_t)json_integer_value(sz);
		r->blob_ids = calloc(json_array_size(ids) + 1, sizeof(*r->blob_ids));
		ret = r->blob_ids ? 0 : -ENOMEM;
		json_array_foreach(ids, i, v) {
			if (ret || lading_digest_parse(json_string_value(v), NULL)) {
				ret = ret ? ret : -EINVAL;
				break;
			}
			r->blob_ids[r->nblobs] = strdup(json_string_value(v));
			if (!r->blob_ids[r->nblobs++])
				ret = -ENOMEM;
		}
	}
	if (!o)
		ret = -ENOENT;
	json_decref(o);
	free(path);
	free(dir);
	free(name);
	return ret;
}

/* ---- driver ------------------------------------------------------------- */

static int open_source(struct rctx *c)
{
	struct lading_registry_opts none = { 0 };
	const char *s = c->r->reference;
	char *host = NULL, *repo = NULL;
	int ret;

	if (!strncmp(s, "docker://", 9)) {
		ret = lading_docker_ref_parse(s, &host, &repo, &c->tag, c->err);
		if (!ret) {
			c->r->repository = malloc(strlen(host) + strlen(repo) + 11);
			if (c->r->repository)
				sprintf(c->r->repository, "docker://%s/%s", host, repo);
			ret = c->r->repository ? 0 : lading_error_set(c->err, ENOMEM,
								       "out of memory");
		}
		if (!ret)
			ret = lading_registry_open(host, repo, c->p->registry ?
						   c->p->registry : &none, &c->reg, c->err);
		free(host);
		free(repo);
		return ret;
	} else {
		struct lading_image_ref ir;

		ret = lading_image_ref_parse(s, &ir, c->err);
		if (ret)
			return ret;
		/* absolute: the record must hold wherever the filler restarts */
		c->dir = realpath(ir.path, NULL);
		c->tag = ir.ref;
		if (!c->dir) {
			ret = lading_error_set(c->err, errno, "%s: %s", ir.path,
					       strerror(errno));
			free(ir.path);
			return ret;
		}
		free(ir.path);
		c->r->repository = malloc(strlen(c->dir) + 14);
		if (!c->r->repository)
			return lading_error_set(c->err, ENOMEM, "out of memory");
		sprintf(c->r->repository, "%s/blobs/sha256", c->dir);
	}
	return 0;
}

/* Errors that say the source is out of reach, not that REF is wrong. */
static bool unreachable(int ret)
{
	return ret == -EIO || ret == -ETIMEDOUT || ret == -ECONNREFUSED ||
	       ret == -EHOSTUNREACH || ret == -ENETUNREACH || ret == -EAGAIN;
}

static void clear_found(struct lading_resolution *r)
{
	size_t i;

	for (i = 0; i < r->nblobs; i++)
		free(r->blob_ids[i]);
	free(r->blob_ids);
	free(r->manifest_digest);
	free(r->subject_digest);
	free(r->bootstrap_digest);
	free(r->trace_digest);
	r->blob_ids = NULL;
	r->nblobs = 0;
	r->manifest_digest = r->subject_digest = r->bootstrap_digest = NULL;
	r->trace_digest = NULL;
	r->trace_size = 0;
	r->found_by = NULL;
}

int lading_resolve(const struct lading_resolve_params *p,
		   struct lading_resolution *r, struct lading_error *err)
{
	struct rctx c = { .p = p, .r = r, .err = err };
	char plat[64];
	int ret;

	memset(r, 0, sizeof(*r));
	r->reference = strdup(p->ref);
	if (!r->reference)
		return lading_error_set(err, ENOMEM, "out of memory");
	if (!lading_is_image_ref(p->ref)) {
		r->bootstrap_path = strdup(p->ref);
		return r->bootstrap_path ? 0 : lading_error_set(err, ENOMEM, "out of memory");
	}
	if (!p->platform)
		lading_image_host_platform(plat, sizeof(plat));
	r->platform = strdup(p->platform ? p->platform : plat);
	ret = r->platform ? open_source(&c) : lading_error_set(err, ENOMEM,
							       "out of memory");
	if (!ret)
		ret = resolve_remote(&c);
	if (unreachable(ret) && p->cache_dir) {
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", err->msg);
		clear_found(r);
		if (!read_record(&c)) {
			lading_error_clear(err);
			r->cached = true;
			ret = 0;
			lading_log_msg(p->log, LADING_LOG_WARN, "%s: using the cached "
				       "resolution (manifest %s, bootstrap %s): %s",
				       r->reference, r->manifest_digest,
				       r->bootstrap_digest, why);
		} else {
			clear_found(r);
		}
	}
	if (!ret)
		ret = place_bootstrap(&c);
	if (!ret)
		ret = place_trace(&c);
	if (!ret && p->cache_dir && !r->cached)
		ret = write_record(&c);
	if (!ret && !r->cached)
		lading_log_msg(p->log, LADING_LOG_DEBUG, "%s: manifest %s (%s), "
			       "bootstrap %s", r->reference, r->manifest_digest,
			       r->found_by, r->bootstrap_digest);
	lading_registry_close(c.reg);
	json_decref(c.layout_index);
	free(c.dir);
	free(c.tag);
	if (ret && strncmp(err->msg, p->ref, strlen(p->ref))) {
		/* every failure names the reference (the URL or file says where) */
		char why[sizeof(err->msg)];

		snprintf(why, sizeof(why), "%s", lading_error_message(err, ret));
		lading_error_clear(err);
		lading_error_set(err, -ret, "%s: %s", p->ref, why);
	}
	if (ret)
		lading_resolution_free(r);
	return ret;
}
