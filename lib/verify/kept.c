// SPDX-License-Identifier: MIT
/*
 * Kept gzip layers (lading-convert --keep-layers): each layer's spans come
 * through the blob sources (a blob directory or the image's registry) and
 * the one chunk path, inflated from their checkpoints and checked against
 * the seek index's digests.  The spans in order are the layer's tar
 * stream, so hashing them in that order gives its diff_id, which must be
 * the index's and, when the lading form was found for an ordinary image,
 * that image's rootfs.diff_ids entry for the layer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lading/fetch.h>
#include <lading/image.h>
#include <lading/zran.h>
#include "internal.h"

#define KEPT_RUN_MAX (8u << 20)		/* stored bytes per range read */
#define KEPT_RUN_SPANS 256u

struct kept {
	struct vctx *v;
	struct lading_blob_sources *src;
	struct lading_image *img;	/* the ordinary image; NULL: unknown */
	struct lading_chunk_fetcher *f;
	int res[KEPT_RUN_SPANS];
};

static bool every_span(const void *ud, size_t k)
{
	(void)ud;
	(void)k;
	return true;
}

static bool is_kept(const struct vctx *v, uint16_t slot)
{
	const struct lading_blob_record *rec =
		lading_reader_blob_record(v->reader, slot + 1);

	return rec && rec->codec == LADING_CODEC_GZIP_INDEXED;
}

/*
 * The ordinary image the lading form was found for (docker:// only): its
 * config holds the diff_ids the layers were built with.
 */
static int open_subject(struct kept *k)
{
	const struct lading_resolution *res = &k->v->r->resolved;
	struct lading_error e = { 0 };
	char *ref;
	int ret;

	if (!res->subject_digest || !res->repository ||
	    strncmp(res->repository, "docker://", 9))
		return 0;
	if (asprintf(&ref, "%s@%s", res->repository, res->subject_digest) < 0)
		return lading_error_set(k->v->err, ENOMEM, "out of memory");
	ret = lading_image_open(ref, res->platform, NULL, 0, &k->v->p->registry,
				&k->img, &e);
	if (ret)
		lading_error_set(k->v->err, -ret, "%s: the source image: %s", ref,
				 lading_error_message(&e, ret));
	free(ref);
	return ret;
}

/* The source image's diff_id (hex) of the layer with blob id; NULL: none. */
static const char *subject_diff_id(const struct kept *k, const char *id)
{
	size_t i;

	for (i = 0; k->img && i < k->img->nlayers; i++) {
		const struct lading_image_layer *L = &k->img->layers[i];

		if (L->digest && !strcmp(L->digest + 7, id))
			return L->diff_id && !strncmp(L->diff_id, "sha256:", 7) ?
			       L->diff_id + 7 : L->diff_id;
	}
	return NULL;
}

static void span_problem(struct vctx *v, uint16_t slot, const struct lading_toc *toc,
			 size_t i, int why)
{
	const struct lading_toc_entry *e = &toc->entries[i];

	verify_problem(v, "layer sha256:%s (slot %u): span %zu (uncompressed bytes "
		       "%llu+%u, stored at %llu+%u, %s): %s", v->r->blobs[slot].id,
		       slot + 1, i, (unsigned long long)lading_le64_to_cpu(e->uoff),
		       lading_le32_to_cpu(e->ulen),
		       (unsigned long long)lading_le64_to_cpu(e->coff),
		       lading_le32_to_cpu(e->clen),
		       lading_codec_name((enum lading_codec)e->codec),
		       why == -EBADMSG ? "does not decode to its digest" :
		       strerror(-why));
}

/* Every span, in order, through the chunk path; *bad counts the bad ones. */
static int check_spans(struct kept *k, uint16_t slot,
		       const struct lading_blob_handle *h,
		       const struct lading_toc *toc, struct lading_sha256_ctx *sc,
		       size_t *bad)
{
	struct vctx *v = k->v;
	size_t i, j, n;

	for (i = 0; i < toc->count; i += n) {
		size_t end = toc->count - i > KEPT_RUN_SPANS ? i + KEPT_RUN_SPANS :
			     toc->count;
		const struct lading_toc_entry *last;
		struct lading_error e = { 0 };
		int ret;

		n = lading_chunk_run_len(toc, i, end, KEPT_RUN_MAX, every_span, NULL);
		ret = lading_chunk_run_read(k->f, h, toc, i, n, k->res, &e);
		if (ret == -ENOMEM)
			return lading_error_set(v->err, ENOMEM, "out of memory");
		if (ret) {
			verify_problem(v, "layer sha256:%s (slot %u): spans %zu-%zu: %s",
				       v->r->blobs[slot].id, slot + 1, i, i + n - 1,
				       lading_error_message(&e, ret));
			*bad += n;
			continue;
		}
		last = &toc->entries[i + n - 1];
		if (v->blob_fds[slot] < 0)
			v->r->blob_bytes_fetched += lading_le64_to_cpu(last->coff) +
				lading_le32_to_cpu(last->clen) -
				lading_le64_to_cpu(toc->entries[i].coff);
		for (j = 0; j < n; j++) {
			if (k->res[j] != LADING_CHUNK_OK) {
				span_problem(v, slot, toc, i + j, k->res[j]);
				(*bad)++;
				continue;
			}
			v->r->spans_checked++;
			/* after a bad span the stream's hash means nothing */
			if (!*bad && lading_sha256_update(sc,
					lading_chunk_run_plain(k->f, i + j),
					lading_le32_to_cpu(toc->entries[i + j].ulen)))
				return lading_error_set(v->err, EIO, "sha256 failed");
		}
	}
	return 0;
}

/* The tar stream's sha256 against the index's and the source image's. */
static bool check_diff_id(struct kept *k, uint16_t slot, const struct lading_toc *toc,
			  struct lading_sha256_ctx *sc)
{
	struct vctx *v = k->v;
	const char *want = subject_diff_id(k, v->r->blobs[slot].id);
	char hex[LADING_DIGEST_HEX_LEN + 1], ixhex[LADING_DIGEST_HEX_LEN + 1];
	struct lading_digest d;
	bool ok = true;

	if (lading_sha256_final(sc, &d))
		return false;
	lading_digest_hex(&d, hex);
	lading_digest_hex(&toc->zran->diff_id, ixhex);
	if (strcmp(hex, ixhex)) {
		verify_problem(v, "layer sha256:%s (slot %u): its tar stream's sha256 "
			       "is %s, the seek index says %s", v->r->blobs[slot].id,
			       slot + 1, hex, ixhex);
		ok = false;
	}
	if (k->img && !want) {
		verify_problem(v, "layer sha256:%s (slot %u): not a layer of the "
			       "source image %s, or without a diff_id",
			       v->r->blobs[slot].id, slot + 1,
			       v->r->resolved.subject_digest);
		ok = false;
	} else if (want && strcmp(hex, want)) {
		verify_problem(v, "layer sha256:%s (slot %u): its tar stream's sha256 "
			       "is %s, the source image's diff_id is %s",
			       v->r->blobs[slot].id, slot + 1, hex, want);
		ok = false;
	}
	return ok;
}

static int check_layer(struct kept *k, uint16_t slot)
{
	struct vctx *v = k->v;
	struct lading_verify_blob *b = &v->r->blobs[slot];
	const struct lading_blob_record *rec =
		lading_reader_blob_record(v->reader, slot + 1);
	struct lading_blob_handle *h = NULL;
	struct lading_toc toc = { 0 };
	struct lading_sha256_ctx sc;
	struct lading_error e = { 0 };
	size_t bad = 0;
	bool diff_ok;
	int ret;

	if (b->status != LADING_BLOB_UNCHECKED)
		return 0;	/* missing, bad size or ToC: said already */
	ret = lading_blob_sources_find(k->src, b->id, &h, &e);
	if (ret == -ENOENT) {
		b->status = LADING_BLOB_MISSING;
		verify_problem(v, "layer sha256:%s (slot %u): not found in %s", b->id,
			       slot + 1, v->r->resolved.repository ?
			       v->r->resolved.repository : "the blob directories");
		return 0;
	}
	if (ret)
		return lading_error_set(v->err, -ret, "%s", lading_error_message(&e, ret));
	ret = lading_blob_read_toc(h, rec, &toc, &e);
	if (ret) {
		b->status = ret == -EUCLEAN ? LADING_BLOB_BAD_TOC : LADING_BLOB_IO_ERROR;
		verify_problem(v, "layer sha256:%s (slot %u): its seek index: %s", b->id,
			       slot + 1, lading_error_message(&e, ret));
		lading_blob_handle_close(h);
		return 0;
	}
	if (v->blob_fds[slot] < 0)
		v->r->blob_bytes_fetched += lading_le64_to_cpu(rec->toc_size);
	ret = lading_sha256_init(&sc);
	if (ret) {
		ret = lading_error_set(v->err, -ret, "sha256 failed");
		goto out;
	}
	ret = check_spans(k, slot, h, &toc, &sc, &bad);
	diff_ok = !ret && !bad && check_diff_id(k, slot, &toc, &sc);
	lading_sha256_free(&sc);
	if (ret)
		goto out;
	if (bad)
		b->status = LADING_BLOB_BAD_CHUNK;
	else if (!diff_ok)
		b->status = LADING_BLOB_BAD_DIGEST;
	else if (v->blob_fds[slot] < 0)
		b->status = LADING_BLOB_OK;	/* no whole-file digest follows */
out:
	lading_toc_free(&toc);
	lading_blob_handle_close(h);
	return ret;
}

int verify_kept_layers(struct vctx *v, const char *boot_dir)
{
	const struct lading_verify_params *p = v->p;
	const char *const *dirs = p->nblob_dirs ? p->blob_dirs : &boot_dir;
	struct kept *k;
	uint16_t i;
	int ret = 0;

	for (i = 0; i < v->r->nblobs && !is_kept(v, i); i++)
		;
	if (i == v->r->nblobs)
		return 0;
	k = calloc(1, sizeof(*k));
	if (!k)
		return lading_error_set(v->err, ENOMEM, "out of memory");
	k->v = v;
	k->f = lading_chunk_fetcher_new();
	if (!k->f)
		ret = lading_error_set(v->err, ENOMEM, "out of memory");
	if (!ret)
		ret = lading_blob_sources_open(dirs, p->nblob_dirs ? p->nblob_dirs : 1,
					       &p->registry, &k->src, v->err);
	if (!ret)
		ret = open_subject(k);
	for (; !ret && i < v->r->nblobs; i++)
		if (is_kept(v, i))
			ret = check_layer(k, i);
	lading_image_close(k->img);
	/* its connections are the sources': closed first */
	lading_chunk_fetcher_free(k->f);
	lading_blob_sources_close(k->src);
	free(k);
	return ret;
}

bool verify_is_kept_layer(const struct vctx *v, uint16_t slot)
{
	return is_kept(v, slot);
}
