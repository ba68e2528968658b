// SPDX-License-Identifier: MIT
/*
 * Writing an OCI image layout.  Everything is built in a staging
 * directory (lading_outdir): a new layout beside its final name, renamed
 * into place at the end; an existing one inside it, whose new blobs are
 * linked in just before index.json is replaced, atomically, last.  A
 * failure before that leaves the destination as it was, and removes the
 * blobs it had linked in; other images of the layout are never touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lading/image.h>

#define INDEX_MAX (4u << 20)	/* as for any JSON document read */

struct lading_oci_writer {
	struct lading_outdir od;
	char *dir;		/* the destination */
	char *blob_dir;		/* the stage's blobs/sha256; final's after commit */
	bool committed;
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

/*
 * The destination's index.json (NULL if it has none): a regular file of
 * at most INDEX_MAX bytes with a manifests array, else an error.
 */
static int load_index(const char *dir, json_t **out, struct lading_error *err)
{
	char *path = lading_path_join(dir, "index.json"), *buf = NULL;
	json_error_t je;
	struct stat st;
	int fd, ret = 0;

	*out = NULL;
	if (!path)
		return lading_error_set(err, ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		if (errno != ENOENT)
			ret = lading_error_set(err, errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > INDEX_MAX) {
		ret = lading_error_set(err, EINVAL, "%s: not a regular file of at "
				       "most 4 MiB", path);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	ret = buf ? lading_pread_full(fd, buf, (size_t)st.st_size, 0) : -ENOMEM;
	if (ret) {
		lading_error_set(err, -ret, "%s: %s", path, strerror(-ret));
		goto out;
	}
	*out = json_loadb(buf, (size_t)st.st_size, 0, &je);
	if (!*out)
		ret = lading_error_set(err, EINVAL, "%s: malformed JSON: %s", path,
				       je.text);
	else if (!json_is_array(json_object_get(*out, "manifests")))
		ret = lading_error_set(err, EINVAL, "%s: no manifests array", path);
	if (ret) {
		json_decref(*out);
		*out = NULL;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(path);
	return ret;
}

int lading_oci_writer_open(const char *dir, struct lading_oci_writer **out,
			   struct lading_error *err)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	struct lading_oci_writer *w = calloc(1, sizeof(*w));
	json_t *index = NULL;
	char *final_blobs;
	int ret;

	if (!w)
		return lading_error_set(err, ENOMEM, "out of memory");
	w->od.lock_fd = -1;
	w->dir = strdup(dir);
	if (!w->dir) {
		lading_oci_writer_close(w);
		return lading_error_set(err, ENOMEM, "out of memory");
	}
	/* an index that cannot be updated fails now, before any work */
	ret = load_index(dir, &index, err);
	json_decref(index);
	if (ret) {
		lading_oci_writer_close(w);
		return ret;
	}
	ret = lading_outdir_open(&w->od, dir);
	if (ret) {
		lading_oci_writer_close(w);
		return lading_error_set(err, -ret, "%s: %s", dir, strerror(-ret));
	}
	/* temporaries of a writer killed before staging existed */
	final_blobs = lading_path_join(dir, "blobs/sha256");
	if (final_blobs && w->od.existed)
		lading_outfile_sweep(final_blobs);
	free(final_blobs);
	w->blob_dir = lading_path_join(w->od.stage, "blobs/sha256");
	ret = w->blob_dir ? lading_mkdir_p(w->blob_dir) : -ENOMEM;
	if (!ret)
		ret = put_file(w->od.stage, "oci-layout", layout, sizeof(layout) - 1);
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
	struct lading_digest d;
	char hex[LADING_DIGEST_HEX_LEN + 1];
	int ret = lading_sha256(data, len, &d);

	if (!ret) {
		lading_digest_hex(&d, hex);
		ret = put_file(w->blob_dir, hex, data, len);
	}
	if (ret)
		return lading_error_set(err, -ret, "%s: writing blob: %s",
					w->blob_dir, strerror(-ret));
	lading_digest_format(&d, digest);
	return 0;
}

int lading_oci_writer_import(struct lading_oci_writer *w, const char *path,
			     const char *hex, struct lading_error *err)
{
	char *dst = lading_path_join(w->blob_dir, hex);
	struct lading_outfile of;
	int in = -1, ret = 0;
	char buf[1 << 16];
	ssize_t n = 0;

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
	return lading_oci_writer_commit_type(w, "application/vnd.oci.image.manifest.v1+json",
					     manifest_digest, manifest_size, ref, err);
}

int lading_oci_writer_commit_type(struct lading_oci_writer *w, const char *media_type,
				  const char *manifest_digest, size_t manifest_size,
				  const char *ref, struct lading_error *err)
{
	const char *idx_dir = w->od.existed ? w->dir : w->od.stage;
	char *path = lading_path_join(idx_dir, "index.json"), *out = NULL;
	json_t *index = NULL, *manifests, *desc, *d;
	size_t i;
	int ret = 0;

	if (!path)
		return lading_error_set(err, ENOMEM, "out of memory");
	ret = load_index(w->dir, &index, err);
	if (ret)
		goto out;
	if (!index)
		index = json_pack("{s:i, s:[]}", "schemaVersion", 2, "manifests");
	manifests = json_object_get(index, "manifests");
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
			 "mediaType", media_type,
			 "digest", manifest_digest, "size", (json_int_t)manifest_size,
			 "annotations", "org.opencontainers.image.ref.name", ref);
	json_array_append_new(manifests, desc);
	out = json_dumps(index, JSON_SORT_KEYS | JSON_COMPACT);
	if (!out) {
		ret = lading_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	/* an existing layout: its new blobs (and oci-layout) first */
	ret = lading_outdir_merge(&w->od, "blobs/sha256");
	if (!ret)
		ret = lading_outdir_merge(&w->od, "");
	if (ret) {
		lading_error_set(err, -ret, "%s: %s", w->dir, strerror(-ret));
		goto out;
	}
	/* the image appears here (existing layout) or at the rename */
	ret = put_file(idx_dir, "index.json", out, strlen(out));
	if (!ret)
		ret = lading_outdir_commit(&w->od);
	if (ret) {
		lading_error_set(err, -ret, "%s: %s", path, strerror(-ret));
		goto out;
	}
	w->committed = true;
	free(w->blob_dir);
	w->blob_dir = lading_path_join(w->dir, "blobs/sha256");
	if (!w->blob_dir)
		ret = lading_error_set(err, ENOMEM, "out of memory");
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
	/* not committed: the destination goes back to what it was */
	if (w->committed)
		lading_outdir_close(&w->od);
	else
		lading_outdir_abort(&w->od);
	free(w->dir);
	free(w->blob_dir);
	free(w);
}
