// SPDX-License-Identifier: MIT
/*
 * Blob sources: where blob artifacts are found by id, a local directory, a
 * registry repository or an http(s) base URL, tried in order.  Shared by seeding (prepare) and
 * on-demand filling.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lading/fetch.h>

struct lading_blob_sources {
	const char *const *specs;
	size_t n;
	struct lading_registry **regs;	/* per spec; NULL for directories */
};

int lading_blob_sources_open(const char *const *specs, size_t n,
			     const struct lading_registry_opts *opts,
			     struct lading_blob_sources **out,
			     struct lading_error *err)
{
	struct lading_blob_sources *s = calloc(1, sizeof(*s));
	size_t i;
	int ret = 0;

	if (s)
		s->regs = calloc(n ? n : 1, sizeof(*s->regs));
	if (!s || !s->regs) {
		free(s);
		return lading_error_set(err, ENOMEM, "out of memory");
	}
	s->specs = specs;
	s->n = n;
	for (i = 0; !ret && i < n; i++) {
		char *host, *repo, *ref;

		if (!strncmp(specs[i], "http://", 7) || !strncmp(specs[i], "https://", 8)) {
			ret = lading_registry_open_url(specs[i], opts, &s->regs[i], err);
			continue;
		}
		if (strncmp(specs[i], "docker://", 9))
			continue;
		ret = lading_docker_ref_parse(specs[i], &host, &repo, &ref, err);
		if (!ret)
			ret = lading_registry_open(host, repo, opts, &s->regs[i], err);
		free(host);
		free(repo);
		free(ref);
	}
	if (ret) {
		lading_blob_sources_close(s);
		return ret;
	}
	*out = s;
	return 0;
}

void lading_blob_sources_close(struct lading_blob_sources *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++)
		lading_registry_close(s->regs[i]);
	free(s->regs);
	free(s);
}

int lading_blob_sources_find(struct lading_blob_sources *s, const char *id,
			     struct lading_blob_handle *h,
			     struct lading_error *err)
{
	struct lading_error ignored = { 0 };
	size_t i;

	memset(h, 0, sizeof(*h));
	h->fd = -1;
	snprintf(h->digest, sizeof(h->digest), "sha256:%s", id);
	for (i = 0; i < s->n; i++) {
		char *path;

		if (s->regs[i]) {
			bool exists = false;

			if (!lading_registry_blob_exists(s->regs[i], h->digest, &exists,
							 &ignored) && exists) {
				h->reg = s->regs[i];
				return 0;
			}
			continue;
		}
		path = lading_path_join(s->specs[i], id);
		if (!path)
			return lading_error_set(err, ENOMEM, "out of memory");
		h->fd = open(path, O_RDONLY | O_CLOEXEC);
		free(path);
		if (h->fd >= 0)
			return 0;
	}
	return lading_error_set(err, ENOENT, "blob %s: not found in the sources", id);
}

void lading_blob_handle_close(struct lading_blob_handle *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->reg = NULL;
}

int lading_blob_read(const struct lading_blob_handle *h, uint64_t off, size_t len,
		     uint8_t *buf, struct lading_error *err)
{
	int ret;

	if (h->reg)
		return lading_registry_get_range(h->reg, h->digest, off, len, buf, err);
	ret = lading_pread_full(h->fd, buf, len, off);
	return ret ? lading_error_set(err, -ret, "blob %s: read: %s", h->digest,
				      strerror(-ret)) : 0;
}

int lading_blob_read_toc(const struct lading_blob_handle *h,
			 const struct lading_blob_record *rec, struct lading_toc *toc,
			 struct lading_error *err)
{
	struct lading_error terr = { 0 };
	uint8_t *tail;
	size_t len;
	int ret;

	if (!h->reg) {
		ret = lading_toc_read(h->fd, rec, toc, &terr);
	} else {
		uint64_t size = lading_le64_to_cpu(rec->artifact_size);
		uint64_t toc_offset = lading_le64_to_cpu(rec->toc_offset);

		if (toc_offset > size || size - toc_offset > (256u << 20))
			return lading_error_set(err, EUCLEAN, "blob %s: ToC outside "
						"the blob", h->digest);
		/* one range: the ToC and the footer */
		len = (size_t)(size - toc_offset);
		tail = malloc(len ? len : 1);
		if (!tail)
			return lading_error_set(err, ENOMEM, "out of memory");
		ret = lading_blob_read(h, toc_offset, len, tail, err);
		if (!ret)
			ret = lading_toc_parse(tail, len, rec, toc, &terr);
		free(tail);
		if (ret && !terr.code)
			return ret;	/* the read's error, err set */
	}
	if (ret)
		return lading_error_set(err, -ret, "blob %s: %s", h->digest + 7,
					terr.msg);
	return 0;
}
