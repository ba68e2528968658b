// SPDX-License-Identifier: MIT
/*
 * Unit tests for the OCI document checks of lib/image/image.c (through
 * lading_image_parse_document()): descriptor sizes must be non-negative
 * JSON integers (not reals, strings or negative numbers; beyond 2^63 is
 * malformed JSON), manifests and configs at most 4 MiB, and the error
 * names the descriptor.
 */
#include <stdio.h>
#include <string.h>
#include <lading/image.h>
#include "check.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

#define H(c) "\"sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
	c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c "\""

static int manifest(const char *layer_size, const char *config_size, char *why)
{
	char doc[2048];
	struct lading_error err = { 0 };
	int ret;

	snprintf(doc, sizeof(doc), "{\"schemaVersion\": 2, \"mediaType\": "
		 "\"application/vnd.oci.image.manifest.v1+json\", \"config\": "
		 "{\"mediaType\": \"application/vnd.oci.image.config.v1+json\", "
		 "\"digest\": " H("c") ", \"size\": %s}, \"layers\": [{\"mediaType\": "
		 "\"application/vnd.oci.image.layer.v1.tar+gzip\", \"digest\": "
		 H("1") ", \"size\": %s}]}", config_size, layer_size);
	ret = lading_image_parse_document("manifest", doc, strlen(doc), &err);
	snprintf(why, 1024, "%s", err.msg);
	return ret;
}

static int index_size(const char *size, char *why)
{
	char doc[1024];
	struct lading_error err = { 0 };
	int ret;

	snprintf(doc, sizeof(doc), "{\"manifests\": [{\"digest\": " H("a")
		 ", \"size\": %s}]}", size);
	ret = lading_image_parse_document("index", doc, strlen(doc), &err);
	snprintf(why, 1024, "%s", err.msg);
	return ret;
}

int main(void)
{
	static const char *const bad[] = { "\"12\"", "12.0", "1e3", "-1", "null",
					   "true", "[]" };
	char why[1024];
	size_t i;

	CHECK(manifest("300375", "363", why) == 0);
	CHECK(manifest("0", "0", why) == 0);
	CHECK(manifest("9223372036854775807", "363", why) == 0);
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		CHECK(manifest(bad[i], "363", why) < 0);
		CHECK(strstr(why, "layer 1 (sha256:1111") && strstr(why, "size"));
		CHECK(manifest("1", bad[i], why) < 0);
		CHECK(strstr(why, "config") && strstr(why, "size"));
		CHECK(index_size(bad[i], why) < 0);
		CHECK(strstr(why, "manifest") && strstr(why, "size"));
	}
	CHECK(manifest("18446744073709551616", "363", why) < 0);
	CHECK(strstr(why, "malformed JSON") != NULL);
	/* documents larger than 4 MiB are refused by their descriptor */
	CHECK(manifest("1", "4194305", why) < 0);
	CHECK(strstr(why, "over the") != NULL);
	CHECK(index_size("4194305", why) < 0);
	CHECK(index_size("4194304", why) == 0);
	/* a config that is not an object */
	CHECK(lading_image_parse_document("config", "[1]", 3,
					  &(struct lading_error){ 0 }) < 0);
	/* one sha256 diff_id per layer (the parser gives a config 4 layers) */
	CHECK(lading_image_parse_document("config", "{\"os\": \"linux\"}", 15,
					  &(struct lading_error){ 0 }) < 0);
	{
		static const char cfg[] = "{\"os\": \"linux\", \"rootfs\": {"
			"\"type\": \"layers\", \"diff_ids\": ["
			"\"sha256:" H64 "\", \"sha256:" H64 "\", "
			"\"sha256:" H64 "\", \"sha256:" H64 "\"]}}";

		CHECK(lading_image_parse_document("config", cfg, sizeof(cfg) - 1,
						  &(struct lading_error){ 0 }) == 0);
		static const char three[] = "{\"rootfs\": {\"diff_ids\": ["
			"\"sha256:" H64 "\", \"sha256:" H64 "\", \"sha256:" H64 "\"]}}";

		CHECK(lading_image_parse_document("config", three, sizeof(three) - 1,
						  &(struct lading_error){ 0 }) < 0);
	}
	return check_summary("image");
}
