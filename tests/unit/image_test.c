// SPDX-License-Identifier: MIT
/*
 * Unit tests for the OCI document checks of lib/image/image.c (through
 * lading_image_parse_document()): descriptor sizes must be non-negative
 * JSON integers (not reals, strings or negative numbers; beyond 2^63 is
 * malformed JSON), manifests and configs at most 4 MiB, and the error
 * names the descriptor.  Also: image references (oci:, oci-archive:,
 * docker-archive:, dir:, docker://) parsed or refused, and an OCI layout
 * written through lading_oci_writer (nothing there before the commit,
 * nothing left by a writer closed without one) opened again with
 * lading_image_open() and its layer read back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static void test_ref_parse(void)
{
	static const struct { const char *in; enum lading_transport t; const char *path, *ref; } ok[] = {
		{ "oci:/x/y:v1", LADING_TRANSPORT_OCI, "/x/y", "v1" },
		{ "oci:/x/y", LADING_TRANSPORT_OCI, "/x/y", NULL },
		{ "oci-archive:a.tar", LADING_TRANSPORT_OCI_ARCHIVE, "a.tar", NULL },
		{ "docker-archive:d.tar", LADING_TRANSPORT_DOCKER_ARCHIVE, "d.tar", NULL },
		{ "dir:/some/dir", LADING_TRANSPORT_DIR, "/some/dir", NULL },
	};
	struct lading_image_ref r;
	struct lading_error err = { 0 };
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
		memset(&r, 0, sizeof(r));
		CHECK(!lading_image_ref_parse(ok[i].in, &r, &err));
		CHECK(r.transport == ok[i].t);
		CHECK(r.path && !strcmp(r.path, ok[i].path));
		CHECK(ok[i].ref ? r.ref && !strcmp(r.ref, ok[i].ref) : !r.ref);
		lading_image_ref_free(&r);
	}
	memset(&r, 0, sizeof(r));
	CHECK(lading_image_ref_parse("tarball:/x", &r, &err) == -EINVAL);
	CHECK(strstr(err.msg, "tarball:/x") != NULL);
	lading_image_ref_free(&r);
}

/*
 * lading_image_list_open(): a manifest is one entry (without the layout's
 * ref name); an index lists its entries, those that are images of a
 * platform with that platform, attestations without one.
 */
static void test_list(const char *layout, const char *md, size_t msize)
{
	struct lading_oci_writer *w = NULL;
	struct lading_error err = { 0 };
	struct lading_image_list l;
	char src[400], idx[1200], id[80];

	snprintf(src, sizeof(src), "oci:%s:v1", layout);
	CHECK(!lading_image_list_open(src, NULL, &l, &err));
	CHECK(!l.is_index && l.n == 1);
	if (l.n == 1) {
		CHECK(!strcmp(l.entries[0].digest, md) && !l.entries[0].platform);
		CHECK(!strstr(l.entries[0].descriptor, "ref.name"));
	}
	lading_image_list_free(&l);

	snprintf(idx, sizeof(idx), "{\"schemaVersion\": 2, \"mediaType\": "
		 "\"application/vnd.oci.image.index.v1+json\", \"manifests\": ["
		 "{\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", "
		 "\"digest\": \"%s\", \"size\": %zu, \"platform\": {\"os\": "
		 "\"linux\", \"architecture\": \"arm\", \"variant\": \"v7\"}}, "
		 "{\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", "
		 "\"digest\": \"%s\", \"size\": %zu, \"platform\": {\"os\": "
		 "\"unknown\", \"architecture\": \"unknown\"}}]}", md, msize, md, msize);
	CHECK(!lading_oci_writer_open(layout, &w, &err));
	CHECK(!lading_oci_writer_put(w, idx, strlen(idx), id, &err));
	CHECK(!lading_oci_writer_commit_type(w, "application/vnd.oci.image.index.v1+json",
					     id, strlen(idx), "multi", &err));
	lading_oci_writer_close(w);
	snprintf(src, sizeof(src), "oci:%s:multi", layout);
	CHECK(!lading_image_list_open(src, NULL, &l, &err));
	CHECK(l.is_index && l.n == 2);
	if (l.n == 2) {
		CHECK(l.entries[0].platform && !strcmp(l.entries[0].platform, "linux/arm/v7"));
		CHECK(!l.entries[1].platform);
		CHECK(lading_image_entry_matches(&l.entries[0], "linux/arm"));
		CHECK(lading_image_entry_matches(&l.entries[0], "linux/arm/v7"));
		CHECK(!lading_image_entry_matches(&l.entries[0], "linux/arm/v6"));
		CHECK(!lading_image_entry_matches(&l.entries[1], "unknown/unknown"));
	}
	lading_image_list_free(&l);
	/* neither a layout nor a registry */
	lading_error_clear(&err);
	CHECK(lading_image_list_open("dir:/nonexistent", NULL, &l, &err) == -EINVAL);
	CHECK(strstr(err.msg, "dir:/nonexistent") != NULL);
}

static void test_writer_roundtrip(void)
{
	static const char layer[] = "not really a tar, but bytes of a layer";
	char dir[] = "/tmp/lading-image-test-XXXXXX", out[300], src[320];
	char ld[80], cd[80], md[80], cfg[512], man[1024], buf[64], cmd[400];
	struct lading_oci_writer *w = NULL;
	struct lading_error err = { 0 };
	struct lading_image *img = NULL;
	struct stat st;
	lading_read_fn fn;
	void *ud = NULL;
	ssize_t n;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(out, sizeof(out), "%s/layout", dir);
	/* closed without a commit: no layout at all */
	CHECK(!lading_oci_writer_open(out, &w, &err));
	CHECK(!lading_oci_writer_put(w, layer, sizeof(layer) - 1, ld, &err));
	lading_oci_writer_close(w);
	CHECK(stat(out, &st) < 0 && errno == ENOENT);

	CHECK(!lading_oci_writer_open(out, &w, &err));
	CHECK(!lading_oci_writer_put(w, layer, sizeof(layer) - 1, ld, &err));
	CHECK(!strncmp(ld, "sha256:", 7));
	snprintf(cfg, sizeof(cfg), "{\"architecture\": \"amd64\", \"os\": \"linux\", "
		 "\"rootfs\": {\"type\": \"layers\", \"diff_ids\": [\"%s\"]}}", ld);
	CHECK(!lading_oci_writer_put(w, cfg, strlen(cfg), cd, &err));
	snprintf(man, sizeof(man), "{\"schemaVersion\": 2, \"mediaType\": "
		 "\"application/vnd.oci.image.manifest.v1+json\", \"config\": "
		 "{\"mediaType\": \"application/vnd.oci.image.config.v1+json\", "
		 "\"digest\": \"%s\", \"size\": %zu}, \"layers\": [{\"mediaType\": "
		 "\"application/vnd.oci.image.layer.v1.tar\", \"digest\": \"%s\", "
		 "\"size\": %zu}]}", cd, strlen(cfg), ld, sizeof(layer) - 1);
	CHECK(!lading_oci_writer_put(w, man, strlen(man), md, &err));
	CHECK(!lading_oci_writer_commit(w, md, strlen(man), "v1", &err));
	lading_oci_writer_close(w);

	snprintf(src, sizeof(src), "oci:%s:v1", out);
	CHECK(!lading_image_open(src, "linux/amd64", NULL, 0, NULL, &img, &err));
	if (!img) {
		fprintf(stderr, "image: %s\n", err.msg);
		return;
	}
	CHECK_EQ_U64(img->nlayers, 1);
	CHECK(img->config_digest && !strcmp(img->config_digest, cd));
	/* the manifest's own descriptor, a referrer's subject */
	CHECK(img->manifest_digest && !strcmp(img->manifest_digest, md));
	CHECK(img->manifest_media_type && !strcmp(img->manifest_media_type,
			"application/vnd.oci.image.manifest.v1+json"));
	CHECK_EQ_U64(img->manifest_size, strlen(man));
	CHECK(img->nlayers == 1 && !strcmp(img->layers[0].digest, ld) &&
	      img->layers[0].size == sizeof(layer) - 1 &&
	      img->layers[0].diff_id && !strcmp(img->layers[0].diff_id, ld));
	CHECK(!lading_image_layer_open(img, 0, &fn, &ud, &err));
	n = ud ? fn(ud, buf, sizeof(buf)) : -1;
	CHECK(n == (ssize_t)sizeof(layer) - 1 && !memcmp(buf, layer, (size_t)n));
	if (ud)
		lading_image_layer_close(img, ud);
	lading_image_close(img);

	test_list(out, md, strlen(man));

	/* an unknown ref is an error that names it */
	snprintf(src, sizeof(src), "oci:%s:v2", out);
	lading_error_clear(&err);
	img = NULL;
	CHECK(lading_image_open(src, "linux/amd64", NULL, 0, NULL, &img, &err) < 0);
	CHECK(strstr(err.msg, "v2") != NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
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
	test_ref_parse();
	test_writer_roundtrip();
	return check_summary("image");
}
