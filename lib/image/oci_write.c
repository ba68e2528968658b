// SPDX-License-Identifier: MIT
/*
 * Writing an OCI image layout.  Blobs are content-addressed and added
 * atomically (temp file, fsync, rename), so adding them never disturbs an
 * existing image; index.json is replaced last, atomically, so the new image
 * appears whole or not at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <lading/image.h>

struct lading_oci_writer {
	char *dir;
	char *blob_dir;
};

static int put_file(const char *dir, const char *name, const void *data,
		    size_t len)
{
	struct lading_outfile of;
	int ret = lading_outfile_open(&of, dir);

	if (ret)
		return ret;
	ret = lading_write_full(of.fd, data, len);
	if (!ret)
		ret = lading_outfile_commit(&of, name);
	lading_outfile_abort(&of);
	return ret;
}

int lading_oci_writer_open(const char *dir, struct lading_oci_writer **out,
			   struct lading_error *err)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	struct lading_oci_writer *w = calloc(1, sizeof(*w));
	char *path;
	int ret;

	if (!w)
		return lading_error_set(err, ENOMEM, "out of memory");
	w->dir = strdup(dir);
	w->blob_dir = lading_path_join(dir, "blobs/sha256");
	if (!w->dir || !w->blob_dir) {
		lading_oci_writer_close(w);
		return lading_error_set(err, ENOMEM, "out of memory");
	}
	ret = lading_mkdir_p(w->blob_dir);
	path = lading_path_join(dir, "oci-layout");
	if (!ret && path && access(path, F_OK) != 0)
		ret = put_file(dir, "oci-layout", layout, sizeof(layout) - 1);
	free(path);
	if (ret) {
		lading_oci_writer_close(w);
		return lading_error_set(err, -ret, "%s: %s", dir, strerror(-ret));
	}
	*out = w;
	return 0;
}

const char *lading_oci_writer_blob_dir(const struct lading_oci_writer *w)
{
	return w->blob_dir;
}

int lading_oci_writer_put(struct lading_oci_writer *w, const void *data,
			  size_t len, char *digest, struct lading_error *err)
{
	uint8_t d[LADING_SHA256_LEN];
	char hex[LADING_DIGEST_HEX_LEN + 1];
	unsigned int dl;
	int ret;

	EVP_Digest(data, len, d, &dl, EVP_sha256(), NULL);
	lading_hex_encode(hex, d, sizeof(d));
	ret = put_file(w->blob_dir, hex, data, len);
	if (ret)
		return lading_error_set(err, -ret, "%s: writing blob: %s",
					w->blob_dir, strerror(-ret));
	sprintf(digest, "sha256:%s", hex);
	return 0;
}

int lading_oci_writer_import(struct lading_oci_writer *w, const char *path,
			     const char *hex, struct lading_error *err)
{
	char *dst = lading_path_join(w->blob_dir, hex);
	struct lading_outfile of;
	int in = -1, ret = 0;
	char buf[1 << 16];
	ssize_t n;

	if (!dst)
		return lading_error_set(err, ENOMEM, "out of memory");
	if (access(dst, F_OK) == 0 || link(path, dst) == 0) {
		free(dst);
		return 0;
	}
	free(dst);
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return lading_error_set(err, errno, "%s: %s", path, strerror(errno));
	ret = lading_outfile_open(&of, w->blob_dir);
	while (!ret && (n = read(in, buf, sizeof(buf))) > 0)
		ret = lading_write_full(of.fd, buf, (size_t)n);
	if (!ret && n < 0)
		ret = -errno;
	if (!ret)
		ret = lading_outfile_commit(&of, hex);
	lading_outfile_abort(&of);
	close(in);
	if (ret)
		return lading_error_set(err, -ret, "copying %s: %s", path,
					strerror(-ret));
	return 0;
}

int lading_oci_writer_commit(struct lading_oci_writer *w,
			     const char *manifest_digest, size_t manifest_size,
			     const char *ref, struct lading_error *err)
{
	char *path = lading_path_join(w->dir, "index.json"), *out = NULL;
	json_t *index = NULL, *manifests, *desc, *d;
	json_error_t je;
	size_t i;
	int ret = 0;

	if (!path)
		return lading_error_set(err, ENOMEM, "out of memory");
	if (access(path, F_OK) == 0) {
		index = json_load_file(path, 0, &je);
		if (!index) {
			ret = lading_error_set(err, EINVAL, "%s: malformed JSON: %s",
					       path, je.text);
			goto out;
		}
	} else {
		index = json_pack("{s:i, s:[]}", "schemaVersion", 2, "manifests");
	}
	manifests = json_object_get(index, "manifests");
	if (!json_is_array(manifests)) {
		ret = lading_error_set(err, EINVAL, "%s: no manifests array", path);
		goto out;
	}
	/* the ref moves to the new manifest; other images stay */
	for (i = 0; i < json_array_size(manifests);) {
		const char *name;

		d = json_array_get(manifests, i);
		name = json_string_value(json_object_get(json_object_get(d,
			"annotations"), "org.opencontainers.image.ref.name"));
		if (name && !strcmp(name, ref))
			json_array_remove(manifests, i);
		else
			i++;
	}
	desc = json_pack("{s:s, s:s, s:I, s:{s:s}}",
			 "mediaType", "application/vnd.oci.image.manifest.v1+json",
			 "digest", manifest_digest, "size", (json_int_t)manifest_size,
			 "annotations", "org.opencontainers.image.ref.name", ref);
	json_array_append_new(manifests, desc);
	out = json_dumps(index, JSON_SORT_KEYS | JSON_COMPACT);
	ret = out ? put_file(w->dir, "index.json", out, strlen(out)) : -ENOMEM;
	if (ret)
		lading_error_set(err, -ret, "%s: %s", path, strerror(-ret));
out:
	free(out);
	json_decref(index);
	free(path);
	return ret;
}

void lading_oci_writer_close(struct lading_oci_writer *w)
{
	if (!w)
		return;
	free(w->dir);
	free(w->blob_dir);
	free(w);
}
