/* SPDX-License-Identifier: MIT */
/*
 * Between the conversion (convert.c) and publishing where clients of the
 * source look (publish.c): one platform converted into a layout writer
 * the caller owns, its lading manifest handed back with the source
 * manifest as its subject.
 */
#ifndef LADING_CONVERT_INTERNAL_H
#define LADING_CONVERT_INTERNAL_H

#include <jansson.h>
#include <lading/convert.h>
#include <lading/image.h>

struct lading_convert_into {
	struct lading_oci_writer *oci;	/* the caller's: blobs go here, no commit */
	const char *created;		/* org.opencontainers.image.created */
	/* out, after success */
	char *manifest_json;		/* the lading manifest (malloc'ed) */
	size_t manifest_size;
	char manifest_digest[7 + LADING_DIGEST_HEX_LEN + 1];
	json_t *subject;		/* the source manifest's descriptor */
	json_t *platform;		/* {os, architecture[, variant]} of its config */
};

int lading_convert_platform(const struct lading_convert_params *p,
			    struct lading_convert_into *into,
			    struct lading_convert_report *r, struct lading_error *err);
void lading_convert_into_free(struct lading_convert_into *into);

/*
 * Every blob a manifest names (its config, then its layers) sent from
 * blob_dir unless the registry has it; the manifest itself is not sent.
 */
int lading_convert_push_blobs(struct lading_registry *reg, const char *blob_dir,
			      const char *manifest_json, const char *mount_from,
			      struct lading_error *err);

/* lading_convert() for p->attach or p->merge_index (publish.c). */
int lading_convert_publish(const struct lading_convert_params *p,
			   struct lading_convert_report *r, struct lading_error *err);

#endif
