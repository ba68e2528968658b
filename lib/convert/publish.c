// SPDX-License-Identifier: MIT
/*
 * Publishing a lading image where clients of the original look (issue
 * 13): each platform manifest of the source converted, its lading
 * manifest (subject: that manifest) pushed by digest into the source's
 * repository and recorded as a referrer (the registry's referrers API,
 * else the referrers tag schema), and optionally an image index holding
 * the original descriptors and the lading ones under a tag of the user's.
 * The source's tags and manifests are never written.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <lading/convert.h>
#include <lading/fetch.h>
#include <lading/image.h>
#include "internal.h"

#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"

struct platform {
	const struct lading_image_entry *entry;	/* NULL: a manifest, not an index */
	struct lading_convert_into into;
	struct lading_convert_report report;
};

struct pub {
	const struct lading_convert_params *p;
	struct lading_convert_report *r;
	struct lading_error *err;
	struct lading_image_list list;
	struct lading_image_ref merge;	/* --merge-index, parsed */
	char *merge_tag;
	bool docker;			/* the source is in a registry */
	struct lading_registry *reg;	/* the source's repository */
	struct lading_oci_writer *oci;	/* staging (docker) or the layout (oci:) */
	char *staging;
	char created[32];
	struct platform *plats;
	size_t nplats;
};

/* RFC 3339 UTC, seconds; $SOURCE_DATE_EPOCH when set, for reproducibility */
static int set_created(struct pub *b)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	time_t t = time(NULL);
	struct tm tm;

	if (sde && *sde) {
		char *end;
		long long v = strtoll(sde, &end, 10);

		if (*end || v < 0)
			return lading_error_set(b->err, EINVAL, "SOURCE_DATE_EPOCH='%s': "
						"not a number of seconds", sde);
		t = (time_t)v;
	}
	if (!gmtime_r(&t, &tm) ||
	    !strftime(b->created, sizeof(b->created), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return lading_error_set(b->err, EINVAL, "cannot format the time");
	return 0;
}

/* ---- where things go ------------------------------------------------ */

static bool same_repo(const char *a, const char *b)
{
	char *ha, *ra, *fa, *hb, *rb, *fb;
	struct lading_error e = { 0 };
	bool same = false;

	if (!lading_docker_ref_parse(a, &ha, &ra, &fa, &e) &&
	    !lading_docker_ref_parse(b, &hb, &rb, &fb, &e)) {
		same = !strcmp(ha, hb) && !strcmp(ra, rb);
		free(hb);
		free(rb);
		free(fb);
	}
	free(ha);
	free(ra);
	free(fa);
	return same;
}

static bool same_dir(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];

	return realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
}

/* --merge-index DST: in the source's repository or layout, with a tag. */
static int check_merge(struct pub *b)
{
	const char *dst = b->p->merge_index, *src = b->p->src;
	struct lading_image_ref sref;
	char *h, *r;
	int ret;

	if (b->docker) {
		if (strncmp(dst, "docker://", 9) || !same_repo(src, dst))
			return lading_error_set(b->err, EINVAL, "--merge-index %s: must "
						"be a tag in the repository of %s (the "
						"original manifests are not copied)", dst, src);
		ret = lading_docker_ref_parse(dst, &h, &r, &b->merge_tag, b->err);
		free(h);
		free(r);
		if (!ret && (strchr(dst + 9, '@') || !strrchr(dst + 9, ':') ||
			     strchr(strrchr(dst + 9, ':'), '/')))
			ret = lading_error_set(b->err, EINVAL, "--merge-index %s: name a "
					       "tag (docker://HOST/REPO:TAG)", dst);
		return ret;
	}
	ret = lading_image_ref_parse(dst, &b->merge, b->err);
	if (ret)
		return ret;
	if (b->merge.transport != LADING_TRANSPORT_OCI || !b->merge.ref)
		return lading_error_set(b->err, EINVAL, "--merge-index %s: expected "
					"oci:DIR:TAG or docker://HOST/REPO:TAG", dst);
	ret = lading_image_ref_parse(src, &sref, b->err);
	if (!ret && !same_dir(sref.path, b->merge.path))
		ret = lading_error_set(b->err, EINVAL, "--merge-index %s: must be in "
				       "the layout of %s (the original manifests "
				       "are not copied)", dst, src);
	lading_image_ref_free(&sref);
	if (!ret)
		b->merge_tag = strdup(b->merge.ref);
	return ret || b->merge_tag ? ret : lading_error_set(b->err, ENOMEM, "out of memory");
}

static int check_params(struct pub *b)
{
	const struct lading_convert_params *p = b->p;

	b->docker = !strncmp(p->src, "docker://", 9);
	if (p->attach && !b->docker)
		return lading_error_set(b->err, EINVAL, "--attach '%s': the source must "
					"be docker://HOST/REPO[:TAG|@DIGEST] (the "
					"image in its registry)", p->src);
	if (!b->docker && strncmp(p->src, "oci:", 4))
		return lading_error_set(b->err, EINVAL, "--merge-index: the source '%s' "
					"must be docker://HOST/REPO[:TAG|@DIGEST] or "
					"oci:DIR[:REF]", p->src);
	if (p->dst || p->layer_bootstraps || p->nlayer_files)
		return lading_error_set(b->err, EINVAL, "--attach and --merge-index "
					"take no DST, --layer nor --layer-bootstraps");
	return p->merge_index ? check_merge(b) : 0;
}

static int open_staging(struct pub *b)
{
	const char *tmp = getenv("TMPDIR");
	char *host, *repo, *ref;
	int ret;

	if (!b->docker) {
		struct lading_image_ref sref;

		ret = lading_image_ref_parse(b->p->src, &sref, b->err);
		if (!ret)
			ret = lading_oci_writer_open(sref.path, &b->oci, b->err);
		lading_image_ref_free(&sref);
		return ret;
	}
	ret = lading_docker_ref_parse(b->p->src, &host, &repo, &ref, b->err);
	if (!ret)
		ret = lading_registry_open(host, repo, &b->p->registry, &b->reg, b->err);
	free(host);
	free(repo);
	free(ref);
	if (ret)
		return ret;
	b->staging = lading_path_join(tmp ? tmp : "/tmp", "lading-push-XXXXXX");
	if (!b->staging || !mkdtemp(b->staging)) {
		free(b->staging);
		b->staging = NULL;
		return lading_error_set(b->err, errno ? errno : ENOMEM,
					"cannot make a staging directory");
	}
	return lading_oci_writer_open(b->staging, &b->oci, b->err);
}

/* ---- converting each platform ---------------------------------------- */

static int choose_platforms(struct pub *b)
{
	const char *want = b->p->platform;
	size_t i;

	b->plats = calloc(b->list.n ? b->list.n : 1, sizeof(*b->plats));
	if (!b->plats)
		return lading_error_set(b->err, ENOMEM, "out of memory");
	if (!b->list.is_index) {
		b->nplats = 1;	/* the one manifest, whatever --platform says */
		return 0;
	}
	for (i = 0; i < b->list.n; i++) {
		const struct lading_image_entry *e = &b->list.entries[i];

		if (e->platform && (!want || lading_image_entry_matches(e, want)))
			b->plats[b->nplats++].entry = e;
	}
	if (!b->nplats)
		return lading_error_set(b->err, ENOENT, "%s: the index has no image "
					"%s%s", b->p->src, want ? "for " : "for a platform",
					want ? want : "");
	return 0;
}

static int convert_one(struct pub *b, struct platform *pl)
{
	struct lading_convert_params pp = *b->p;
	/* what the listing saw; the merged index names it */
	const char *want = pl->entry ? pl->entry->digest : b->list.entries[0].digest;
	int ret;

	pp.attach = false;
	pp.merge_index = NULL;
	if (pl->entry)
		pp.platform = pl->entry->platform;
	pl->into.oci = b->oci;
	pl->into.created = b->created;
	ret = lading_convert_platform(&pp, &pl->into, &pl->report, b->err);
	if (ret)
		return ret;
	/* the tag moved between the listing and the conversion */
	if (strcmp(want, json_string_value(json_object_get(pl->into.subject, "digest"))))
		return lading_error_set(b->err, EAGAIN, "%s: resolved to another "
					"manifest than %s a moment before: it "
					"changed meanwhile", b->p->src, want);
	return 0;
}

/* ---- recording referrers ---------------------------------------------- */

/* The descriptor of a lading manifest, as an index holds it. */
static json_t *lading_descriptor(const struct platform *pl, bool with_platform)
{
	json_t *man = json_loads(pl->into.manifest_json, 0, NULL);
	json_t *d = json_pack("{s:s, s:s, s:I, s:s, s:O}", "mediaType", MT_MANIFEST,
			      "digest", pl->into.manifest_digest, "size",
			      (json_int_t)pl->into.manifest_size, "artifactType",
			      LADING_ARTIFACT_TYPE, "annotations",
			      json_object_get(man, "annotations"));

	json_decref(man);
	if (d && with_platform) {
		/* the platform of the original, marked as lading's */
		json_t *orig = pl->entry ? json_loads(pl->entry->descriptor, 0, NULL) : NULL;
		json_t *plat = json_deep_copy(orig ? json_object_get(orig, "platform") :
					      pl->into.platform);

		json_decref(orig);
		if (!plat) {
			json_decref(d);
			return NULL;
		}
		json_object_set_new(plat, "os.features",
				    json_pack("[s]", LADING_OS_FEATURE));
		json_object_set_new(d, "platform", plat);
	}
	return d;
}

/* An index as a registry answered it, or a new empty one. */
static json_t *parse_index(const char *body, size_t len)
{
	json_t *j = body ? json_loadb(body, len, 0, NULL) : NULL;

	if (j && json_is_object(j) && json_is_array(json_object_get(j, "manifests")))
		return j;
	json_decref(j);
	return NULL;
}

/* The registry's referrers API answers for subject with an index. */
static int has_referrers_api(struct pub *b, const char *subject, bool *yes)
{
	char *body;
	size_t len;
	json_t *j;
	int ret = lading_registry_get_referrers(b->reg, subject, &body, &len, b->err);

	if (ret)
		return ret;
	j = parse_index(body, len);
	*yes = j != NULL;
	json_decref(j);
	free(body);
	return 0;
}

/*
 * The referrers tag schema: the index under sha256-<hex> gains the
 * descriptor (read, modified, written back; one entry per digest).
 */
static int record_in_tag(struct pub *b, const struct platform *pl, const char *subject)
{
	char tag[7 + LADING_DIGEST_HEX_LEN + 1], *body = NULL, *mt = NULL, dg[80], *out;
	struct lading_error e = { 0 };	/* a 404 is no error here */
	json_t *index = NULL, *m, *d;
	size_t len = 0, i;
	int ret;

	snprintf(tag, sizeof(tag), "sha256-%s", subject + 7);
	ret = lading_registry_get_manifest(b->reg, tag, &body, &len, &mt, dg, &e);
	if (ret && ret != -ENOENT)
		lading_error_set(b->err, -ret, "%s", e.msg);
	if (ret == -ENOENT) {
		ret = 0;
		index = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2,
				  "mediaType", MT_INDEX, "manifests");
	} else if (!ret && !(index = parse_index(body, len))) {
		ret = lading_error_set(b->err, EINVAL, "%s: tag %s is not an image "
				       "index: not touched", b->p->src, tag);
	}
	free(body);
	free(mt);
	if (ret || !index) {
		json_decref(index);
		return ret ? ret : lading_error_set(b->err, ENOMEM, "out of memory");
	}
	m = json_object_get(index, "manifests");
	json_array_foreach(m, i, d) {
		const char *dd = json_string_value(json_object_get(d, "digest"));

		if (dd && !strcmp(dd, pl->into.manifest_digest))
			break;
	}
	if (i == json_array_size(m))
		json_array_append_new(m, lading_descriptor(pl, false));
	out = json_dumps(index, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(index);
	if (!out)
		return lading_error_set(b->err, ENOMEM, "out of memory");
	ret = lading_registry_put_manifest(b->reg, tag, out, strlen(out), MT_INDEX, b->err);
	free(out);
	return ret;
}

/* Pushes one platform's lading image by digest; records its referrer. */
static int push_one(struct pub *b, struct platform *pl, struct lading_convert_attached *a)
{
	const char *subject = json_string_value(json_object_get(pl->into.subject, "digest"));
	bool recorded = false;
	int ret;

	ret = lading_convert_push_blobs(b->reg, lading_oci_writer_blob_dir(b->oci),
					pl->into.manifest_json, b->p->registry.mount_from,
					b->err);
	if (!ret)
		ret = lading_registry_put_referrer(b->reg, pl->into.manifest_json,
						   pl->into.manifest_size, MT_MANIFEST,
						   subject, &recorded, b->err);
	if (ret || !b->p->attach)
		return ret;
	if (!recorded)
		ret = has_referrers_api(b, subject, &recorded);
	if (!ret && !recorded)
		ret = record_in_tag(b, pl, subject);
	if (!ret)
		a->referrer = recorded ? "referrers-api" : "tag-schema";
	return ret;
}

/* ---- the merged index -------------------------------------------------- */

/* The original descriptors as they were, then one lading one per platform. */
static json_t *merged_index(struct pub *b)
{
	json_t *idx = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType",
				MT_INDEX, "manifests"), *m, *d;
	size_t i;

	m = json_object_get(idx, "manifests");
	for (i = 0; m && i < b->list.n; i++) {
		d = json_loads(b->list.entries[i].descriptor, 0, NULL);
		if (d && !b->list.is_index && !json_object_get(d, "platform"))
			json_object_set(d, "platform", b->plats[0].into.platform);
		if (!d || json_array_append_new(m, d))
			goto fail;
	}
	for (i = 0; m && i < b->nplats; i++) {
		d = lading_descriptor(&b->plats[i], true);
		if (!d || json_array_append_new(m, d))
			goto fail;
	}
	if (m)
		return idx;
fail:
	json_decref(idx);
	return NULL;
}

static int write_merged(struct pub *b)
{
	json_t *idx = merged_index(b);
	char *s = idx ? json_dumps(idx, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	struct lading_digest d;
	int ret;

	json_decref(idx);
	if (!s)
		return lading_error_set(b->err, ENOMEM, "out of memory");
	ret = lading_sha256(s, strlen(s), &d);
	if (!ret)
		lading_digest_format(&d, b->r->merged_index);
	if (!ret && b->docker)
		ret = lading_registry_put_manifest(b->reg, b->merge_tag, s, strlen(s),
						   MT_INDEX, b->err);
	else if (!ret)
		ret = lading_oci_writer_put(b->oci, s, strlen(s), b->r->merged_index,
					    b->err);
	if (!ret && !b->docker)
		ret = lading_oci_writer_commit_type(b->oci, MT_INDEX, b->r->merged_index,
						    strlen(s), b->merge_tag, b->err);
	free(s);
	return ret;
}

/* ---- driver ------------------------------------------------------------ */

static void fill_attached(struct pub *b, size_t i)
{
	struct lading_convert_attached *a = &b->r->attached[i];
	const struct platform *pl = &b->plats[i];
	json_t *p = pl->into.platform;
	const char *var = json_string_value(json_object_get(p, "variant"));

	snprintf(a->platform, sizeof(a->platform), "%s/%s%s%s",
		 json_string_value(json_object_get(p, "os")),
		 json_string_value(json_object_get(p, "architecture")),
		 var ? "/" : "", var ? var : "");
	snprintf(a->source_manifest, sizeof(a->source_manifest), "%s",
		 json_string_value(json_object_get(pl->into.subject, "digest")));
	memcpy(a->manifest, pl->into.manifest_digest, sizeof(a->manifest));
	memcpy(a->bootstrap_digest, pl->report.bootstrap_digest,
	       sizeof(a->bootstrap_digest));
}

static int run(struct pub *b)
{
	size_t i;
	int ret = check_params(b);

	if (!ret)
		ret = set_created(b);
	if (!ret)
		ret = lading_image_list_open(b->p->src, &b->p->registry, &b->list, b->err);
	if (!ret)
		ret = choose_platforms(b);
	if (!ret)
		ret = open_staging(b);
	if (!ret) {
		b->r->attached = calloc(b->nplats, sizeof(*b->r->attached));
		if (!b->r->attached)
			ret = lading_error_set(b->err, ENOMEM, "out of memory");
	}
	/* every platform converted before anything is pushed */
	for (i = 0; !ret && i < b->nplats; i++) {
		lading_log_msg(b->p->log, LADING_LOG_DEBUG, "converting %s",
			       b->plats[i].entry ? b->plats[i].entry->platform :
			       b->p->src);
		ret = convert_one(b, &b->plats[i]);
		if (!ret) {
			fill_attached(b, i);
			b->r->nattached++;
		}
	}
	for (i = 0; !ret && b->docker && i < b->nplats; i++)
		ret = push_one(b, &b->plats[i], &b->r->attached[i]);
	if (!ret && b->p->merge_index)
		ret = write_merged(b);
	return ret;
}

int lading_convert_publish(const struct lading_convert_params *p,
			   struct lading_convert_report *r, struct lading_error *err)
{
	struct pub b = { .p = p, .r = r, .err = err };
	struct timespec t0, t1;
	size_t i;
	int ret;

	memset(r, 0, sizeof(*r));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = lading_build_options_check(&p->build, err);
	if (!ret)
		ret = run(&b);
	for (i = 0; i < b.nplats; i++) {
		struct platform *pl = &b.plats[i];

		/* the report is the first platform's; the others are in attached[] */
		if (i == 0 && !ret) {
			struct lading_convert_attached *a = r->attached;
			size_t na = r->nattached;
			char mi[sizeof(r->merged_index)];

			memcpy(mi, r->merged_index, sizeof(mi));
			*r = pl->report;
			r->attached = a;
			r->nattached = na;
			memcpy(r->merged_index, mi, sizeof(mi));
		} else {
			lading_convert_report_free(&pl->report);
		}
		lading_convert_into_free(&pl->into);
	}
	free(b.plats);
	/* oci: committed only by write_merged; otherwise left as it was */
	lading_oci_writer_close(b.oci);
	lading_registry_close(b.reg);
	if (b.staging)
		lading_remove_tree(b.staging);
	free(b.staging);
	free(b.merge_tag);
	lading_image_ref_free(&b.merge);
	lading_image_list_free(&b.list);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	r->elapsed = (double)(t1.tv_sec - t0.tv_sec) +
		     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (ret) {
		lading_convert_report_free(r);
		memset(r, 0, sizeof(*r));
	}
	return ret;
}
