// SPDX-License-Identifier: MIT
/*
 * --source docker://... or oci:DIR[:REF]: the source is an ordinary image,
 * its merged tree read layer by layer by the tar source (whiteouts
 * applied), each layer checked against its digest and diff_id on the way.
 */
#include <errno.h>
#include <string.h>
#include <lading/image.h>
#include "internal.h"

bool compare_source_is_image(const char *source)
{
	return !strncmp(source, "docker://", 9) || !strncmp(source, "oci:", 4);
}

static int load_one(struct vctx *v, struct lading_image *img, size_t i,
		    struct lading_source_params *src, struct lading_source_stats *st)
{
	const struct lading_image_layer *L = &img->layers[i];
	struct lading_error lerr = { 0 };
	const char *why;
	int ret;

	src->name = L->digest ? L->digest : L->location;
	src->expected_sha256 = L->expected_sha256;
	src->expected_diff_id = L->diff_id ? L->diff_id + 7 : NULL;
	src->layer = (uint16_t)(i + 1);
	ret = lading_image_layer_open(img, i, &src->read, &src->read_ud, v->err);
	if (ret)
		return ret;
	ret = lading_source_load(v->src, v->src_store, src, st, &lerr);
	why = ret ? lading_image_layer_error(img, src->read_ud) : NULL;
	if (ret)
		lading_error_set(v->err, lerr.code ? -lerr.code : -ret, "%s: layer %zu: %s",
				 v->p->source, i + 1,
				 why ? why : lading_error_message(&lerr, ret));
	lading_image_layer_close(img, src->read_ud);
	src->read_ud = NULL;
	return ret;
}

int compare_load_image(struct vctx *v, struct lading_source_params *src,
		       struct lading_source_stats *st)
{
	struct lading_image *img = NULL;
	struct lading_source_stats one;
	size_t i;
	int ret;

	ret = lading_image_open(v->p->source, v->p->platform, NULL, 0,
				&v->p->registry, &img, v->err);
	src->path = NULL;
	memset(st, 0, sizeof(*st));
	for (i = 0; !ret && i < img->nlayers; i++) {
		ret = load_one(v, img, i, src, &one);
		st->entries += one.entries;
	}
	lading_image_close(img);
	return ret;
}
