// SPDX-License-Identifier: MIT
/*
 * Unit tests for lib/convert: an OCI layout written here (one tar layer
 * made with libarchive, its config and manifest, index.json naming v1) is
 * converted to dir:OUT; the report counts the layer, the bootstrap sits in
 * OUT under its sha256 and verifies with its blob.  A layer whose diff_id
 * in the config is wrong fails with a message, and leaves no OUT behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <lading/convert.h>
#include <lading/verify.h>
#include <lading/format.h>
#include <lading/source.h>
#include <lading/store.h>
#include <lading/tree.h>
#include <lading/fetch.h>
#include "check.h"
#include "scratch.h"



static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(write(fd, data, len) == (ssize_t)len);
		close(fd);
	}
}

static void sha256_hex(const void *data, size_t len, char *hex)
{
	uint8_t d[32];
	unsigned int dl;

	EVP_Digest(data, len, d, &dl, EVP_sha256(), NULL);
	lading_hex_encode(hex, d, 32);
}

/* A blob of the layout; digest receives "sha256:<hex>". */
static void put_blob(const char *layout, const void *data, size_t len, char *digest)
{
	char path[1024];

	strcpy(digest, "sha256:");
	sha256_hex(data, len, digest + 7);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout, digest + 7);
	write_file(path, data, len);
}

static size_t make_layer(uint8_t *out, size_t cap)
{
	static char big[200000];
	struct archive *a = archive_write_new();
	struct archive_entry *e;
	size_t used = 0;

	memset(big, 'z', sizeof(big));
	archive_write_set_format_pax_restricted(a);
	archive_write_open_memory(a, out, cap, &used);
	e = archive_entry_new();
	archive_entry_set_pathname(e, "etc/");
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, 0755);
	archive_write_header(a, e);
	archive_entry_clear(e);
	archive_entry_set_pathname(e, "etc/hostname");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 5);
	archive_write_header(a, e);
	archive_write_data(a, "host\n", 5);
	archive_entry_clear(e);
	archive_entry_set_pathname(e, "big");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, sizeof(big));
	archive_write_header(a, e);
	archive_write_data(a, big, sizeof(big));
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	return used;
}

/* An OCI layout at dir with one layer; diff_id: the config's (NULL: right). */
static void make_layout(const char *dir, const char *diff_id)
{
	static uint8_t tar[1 << 19];
	char layer[80], config[80], manifest[80], diff[80], doc[2048], path[1024];
	size_t len = make_layer(tar, sizeof(tar)), cfg_len;

	CHECK(len > 0);
	CHECK(!mkdir(dir, 0755));
	snprintf(path, sizeof(path), "%s/blobs", dir);
	CHECK(!mkdir(path, 0755));
	snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
	CHECK(!mkdir(path, 0755));
	put_blob(dir, tar, len, layer);
	snprintf(diff, sizeof(diff), "%s", diff_id ? diff_id : layer);
	snprintf(doc, sizeof(doc), "{\"architecture\": \"amd64\", \"os\": \"linux\", "
		 "\"config\": {}, \"rootfs\": {\"type\": \"layers\", "
		 "\"diff_ids\": [\"%s\"]}}", diff);
	cfg_len = strlen(doc);
	put_blob(dir, doc, cfg_len, config);
	snprintf(doc, sizeof(doc), "{\"schemaVersion\": 2, \"mediaType\": "
		 "\"application/vnd.oci.image.manifest.v1+json\", \"config\": "
		 "{\"mediaType\": \"application/vnd.oci.image.config.v1+json\", "
		 "\"digest\": \"%s\", \"size\": %zu}, \"layers\": [{\"mediaType\": "
		 "\"application/vnd.oci.image.layer.v1.tar\", \"digest\": \"%s\", "
		 "\"size\": %zu}]}", config, cfg_len, layer, len);
	put_blob(dir, doc, strlen(doc), manifest);
	snprintf(path, sizeof(path), "%s/oci-layout", dir);
	write_file(path, "{\"imageLayoutVersion\": \"1.0.0\"}", 31);
	snprintf(doc, sizeof(doc), "{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": "
		 "\"application/vnd.oci.image.manifest.v1+json\", \"digest\": \"%s\", "
		 "\"size\": %zu, \"annotations\": {\"org.opencontainers.image.ref.name\": "
		 "\"v1\"}}]}", manifest, strlen(doc));
	snprintf(path, sizeof(path), "%s/index.json", dir);
	write_file(path, doc, strlen(doc));
}

static int convert(const char *src, const char *dst, struct lading_convert_report *r,
		   struct lading_error *err)
{
	struct lading_convert_params p;

	lading_convert_params_init(&p);
	p.src = src;
	p.dst = dst;
	return lading_convert(&p, r, err);
}

int main(void)
{
	struct lading_convert_report r;
	struct lading_error err = { 0 };
	struct lading_verify_params vp;
	struct lading_verify_report vr;
	char src[600], dst[600];
	const char *dirs[1];
	struct stat st;

	CHECK(scratch_make("convert") == 0);
	make_layout(at("img"), NULL);
	snprintf(src, sizeof(src), "oci:%s:v1", at("img"));
	snprintf(dst, sizeof(dst), "dir:%s", at("out"));
	CHECK(!convert(src, dst, &r, &err));
	if (err.msg[0])
		fprintf(stderr, "convert: %s\n", err.msg);
	CHECK_EQ_U64(r.nlayers, 1);
	CHECK(r.nlayers && r.layers[0].entries == 3 && r.layers[0].blob_id[0] &&
	      r.layers[0].source_digest && !strncmp(r.layers[0].source_digest, "sha256:", 7));
	CHECK(!strncmp(r.bootstrap_digest, "sha256:", 7));
	CHECK_EQ_U64(r.nblobs, 1);
	CHECK(r.inodes >= 4);	/* root, etc, hostname, big */

	/* the bootstrap under its digest, verified with the blob beside it */
	lading_verify_params_init(&vp);
	snprintf(dst, sizeof(dst), "out/%s", r.bootstrap_digest + 7);
	vp.bootstrap = at(dst);
	CHECK(stat(vp.bootstrap, &st) == 0 && (uint64_t)st.st_size == r.bootstrap_size);
	dirs[0] = at("out");
	vp.blob_dirs = dirs;
	vp.nblob_dirs = 1;
	CHECK(!lading_verify(&vp, &vr, &err));
	CHECK_EQ_U64(vr.regular, 2);
	CHECK_EQ_U64(vr.file_bytes, 200005);
	lading_verify_report_free(&vr);
	lading_convert_report_free(&r);

	/* a config that names another diff_id: refused, nothing written */
	make_layout(at("bad"), "sha256:0123456789abcdef0123456789abcdef"
		    "0123456789abcdef0123456789abcdef");
	snprintf(src, sizeof(src), "oci:%s:v1", at("bad"));
	snprintf(dst, sizeof(dst), "dir:%s", at("out2"));
	lading_error_clear(&err);
	CHECK(convert(src, dst, &r, &err) < 0);
	CHECK(err.msg[0] != '\0');
	CHECK(stat(at("out2"), &st) < 0 && errno == ENOENT);
	lading_convert_report_free(&r);

	CHECK(scratch_remove() == 0);
	return check_summary("convert");
}
