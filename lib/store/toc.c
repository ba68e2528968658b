// SPDX-License-Identifier: MIT
/* Reading, checking and using a blob artifact's ToC. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lading/store.h>
#include <lading/zran.h>

static_assert(sizeof(((struct lading_blob_record *)0)->id) == LADING_SHA256_LEN &&
	      sizeof(((struct lading_toc_entry *)0)->digest) == LADING_SHA256_LEN,
	      "on-disk digests are sha256");

#define TOC_MAX_ENTRIES (64u << 20)	/* 4 GiB of ToC: refuse beyond */

/* The ToC does not agree with the record: the caller names the blob. */
#define toc_bad(err, ...) lading_error_set(err, EUCLEAN, __VA_ARGS__)

/* An I/O or memory error, with its message too. */
static int toc_errno(struct lading_error *err, int ret)
{
	return lading_error_set(err, -ret, "%s", strerror(-ret));
}

static int check_footer(const struct lading_blob_footer *f,
			const struct lading_blob_record *rec, struct lading_error *err)
{
	uint64_t toc_offset = lading_le64_to_cpu(f->toc_offset);
	uint64_t toc_size = lading_le64_to_cpu(f->toc_size);
	uint32_t entries = lading_le32_to_cpu(f->entries);

	if (lading_le64_to_cpu(f->magic) != LADING_TOC_MAGIC ||
	    lading_le32_to_cpu(f->version) != LADING_TOC_VERSION)
		return toc_bad(err, "no lading footer (magic/version)");
	if (toc_offset != lading_le64_to_cpu(rec->toc_offset) ||
	    toc_size != lading_le64_to_cpu(rec->toc_size) ||
	    lading_le64_to_cpu(f->uncompressed_size) !=
		    lading_le64_to_cpu(rec->uncompressed_size) ||
	    lading_le32_to_cpu(f->chunk_size) != lading_le32_to_cpu(rec->chunk_size) ||
	    lading_le32_to_cpu(f->codec) != rec->codec)
		return toc_bad(err, "footer disagrees with the bootstrap's "
			       "blob table");
	if (toc_size != (uint64_t)entries * sizeof(struct lading_toc_entry) ||
	    entries > TOC_MAX_ENTRIES ||
	    toc_offset + toc_size + sizeof(*f) != lading_le64_to_cpu(rec->artifact_size))
		return toc_bad(err, "footer sizes are inconsistent");
	return 0;
}

/* Entries must tile [0, uncompressed_size) in order, inside the data area. */
static int check_entries(const struct lading_toc *t, struct lading_error *err)
{
	uint64_t expect = 0, data_end = lading_le64_to_cpu(t->footer.toc_offset);
	uint32_t chunk_size = lading_le32_to_cpu(t->footer.chunk_size);
	size_t i;

	for (i = 0; i < t->count; i++) {
		const struct lading_toc_entry *e = &t->entries[i];
		uint64_t uoff = lading_le64_to_cpu(e->uoff);
		uint64_t coff = lading_le64_to_cpu(e->coff);
		uint32_t ulen = lading_le32_to_cpu(e->ulen);
		uint32_t clen = lading_le32_to_cpu(e->clen);

		if (uoff != expect || !ulen || ulen > chunk_size)
			return toc_bad(err, "ToC entry %zu: uncompressed range "
				       "%llu+%u does not continue at %llu", i,
				       (unsigned long long)uoff, ulen,
				       (unsigned long long)expect);
		if (e->codec > LADING_CODEC_ZSTD ||
		    (e->codec == LADING_CODEC_NONE && clen != ulen) ||
		    coff > data_end || clen > data_end - coff)
			return toc_bad(err, "ToC entry %zu: stored range "
				       "%llu+%u outside the data area", i,
				       (unsigned long long)coff, clen);
		expect += LADING_ALIGN_UP((uint64_t)ulen, (uint64_t)LADING_BLOCK_SIZE);
	}
	if (expect != lading_le64_to_cpu(t->footer.uncompressed_size))
		return toc_bad(err, "ToC covers %llu bytes, the blob has %llu",
			       (unsigned long long)expect,
			       (unsigned long long)lading_le64_to_cpu(
				       t->footer.uncompressed_size));
	return 0;
}

int lading_toc_parse(const void *tail, size_t len,
		     const struct lading_blob_record *rec, struct lading_toc *toc,
		     struct lading_error *err)
{
	uint64_t size = lading_le64_to_cpu(rec->artifact_size);
	uint64_t toc_offset = lading_le64_to_cpu(rec->toc_offset);
	struct lading_digest digest;
	size_t toc_size;
	int ret;

	memset(toc, 0, sizeof(*toc));
	if (size < sizeof(toc->footer) || toc_offset > size ||
	    len != size - toc_offset || len < sizeof(toc->footer))
		return toc_bad(err, "ToC area of %zu bytes does not match "
			       "the bootstrap", len);
	memcpy(&toc->footer, (const uint8_t *)tail + len - sizeof(toc->footer),
	       sizeof(toc->footer));
	ret = check_footer(&toc->footer, rec, err);
	if (ret)
		return ret;
	toc->count = lading_le32_to_cpu(toc->footer.entries);
	toc_size = (size_t)lading_le64_to_cpu(toc->footer.toc_size);
	toc->entries = malloc(toc->count ? toc_size : 1);
	if (!toc->entries)
		return toc_errno(err, -ENOMEM);
	memcpy(toc->entries, tail, toc_size);
	ret = lading_sha256(toc->entries, toc_size, &digest);
	if (ret)
		ret = toc_errno(err, ret);
	if (!ret && memcmp(digest.bytes, rec->toc_digest, sizeof(digest.bytes)))
		ret = toc_bad(err, "ToC digest differs from the bootstrap's");
	if (!ret)
		ret = check_entries(toc, err);
	if (ret)
		lading_toc_free(toc);
	return ret;
}

int lading_toc_load_kept(const char *dir, const char *id,
			 const struct lading_blob_record *rec, struct lading_toc *toc)
{
	char *path = dir ? lading_path_join(dir, id) : NULL;
	int fd = path ? open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1, ret = -ENOENT;
	uint64_t len = lading_le64_to_cpu(rec->artifact_size) - lading_le64_to_cpu(rec->toc_offset);
	uint8_t *tail = NULL;

	free(path);
	if (fd < 0)
		return -ENOENT;
	if (lading_le64_to_cpu(rec->toc_offset) <= lading_le64_to_cpu(rec->artifact_size) &&
	    len <= (256u << 20))
		tail = malloc(len ? len : 1);
	if (tail && !lading_pread_full(fd, tail, len, 0) &&
	    lseek(fd, 0, SEEK_END) == (off_t)len)
		ret = lading_toc_parse(tail, len, rec, toc, NULL) ? -ENOENT : 0;
	free(tail);
	close(fd);
	return ret;
}

int lading_toc_keep(const char *dir, const char *id, const struct lading_toc *toc)
{
	struct lading_outfile of;
	int ret = lading_mkdir_p(dir);

	if (!ret)
		ret = lading_outfile_open(&of, dir);
	if (ret)
		return ret;
	ret = lading_write_full(of.fd, toc->entries, lading_le64_to_cpu(toc->footer.toc_size));
	if (!ret)
		ret = lading_write_full(of.fd, &toc->footer, sizeof(toc->footer));
	if (!ret)
		ret = lading_outfile_commit(&of, id);
	lading_outfile_abort(&of);
	return ret;
}

int lading_toc_read(int fd, const struct lading_blob_record *rec,
		    struct lading_toc *toc, struct lading_error *err)
{
	uint64_t size = lading_le64_to_cpu(rec->artifact_size);
	uint64_t toc_offset = lading_le64_to_cpu(rec->toc_offset);
	struct stat st;
	uint8_t *tail;
	size_t len;
	int ret;

	memset(toc, 0, sizeof(*toc));
	if (fstat(fd, &st) < 0)
		return toc_errno(err, -errno);
	if ((uint64_t)st.st_size != size)
		return toc_bad(err, "artifact is %llu bytes, the bootstrap "
			       "says %llu", (unsigned long long)st.st_size,
			       (unsigned long long)size);
	if (toc_offset > size || size - toc_offset > (64ull << 20) * 64 + 64)
		return toc_bad(err, "ToC offset outside the artifact");
	len = (size_t)(size - toc_offset);
	tail = malloc(len ? len : 1);
	if (!tail)
		return toc_errno(err, -ENOMEM);
	ret = lading_pread_full(fd, tail, len, toc_offset);
	if (ret)
		ret = toc_errno(err, ret);
	else
		ret = lading_toc_parse(tail, len, rec, toc, err);
	free(tail);
	return ret;
}

void lading_toc_free(struct lading_toc *toc)
{
	free(toc->entries);
	lading_zran_free(toc->zran);
	toc->entries = NULL;
	toc->zran = NULL;
	toc->count = 0;
}

uint64_t lading_toc_extent(const struct lading_toc *toc, size_t k)
{
	uint64_t ulen = lading_le32_to_cpu(toc->entries[k].ulen);

	return toc->zran ? ulen : LADING_ALIGN_UP(ulen, (uint64_t)LADING_BLOCK_SIZE);
}

int lading_toc_decode_at(const struct lading_toc *toc, size_t k,
			 const uint8_t *stored, uint8_t *out)
{
	const struct lading_toc_entry *e = &toc->entries[k];

	if (toc->zran)
		return lading_zran_extract(toc->zran, k, stored,
					   lading_le32_to_cpu(e->clen), out, NULL);
	return lading_toc_decode(e, stored, out);
}

int lading_toc_from_zran(struct lading_zran_index *ix,
			 const struct lading_blob_record *rec,
			 struct lading_toc *toc, struct lading_error *err)
{
	size_t i;

	memset(toc, 0, sizeof(*toc));
	if (memcmp(ix->blob_digest.bytes, rec->id, sizeof(rec->id)) ||
	    ix->compressed_size != lading_le64_to_cpu(rec->artifact_size) ||
	    ix->uncompressed_size != lading_le64_to_cpu(rec->uncompressed_size)) {
		lading_zran_free(ix);
		return toc_bad(err, "the seek index is for another layer");
	}
	toc->entries = calloc(ix->count, sizeof(*toc->entries));
	if (!toc->entries) {
		lading_zran_free(ix);
		return toc_errno(err, -ENOMEM);
	}
	for (i = 0; i < ix->count; i++) {
		struct lading_toc_entry *e = &toc->entries[i];
		uint64_t start, end;

		lading_zran_span_range(ix, i, &start, &end);
		e->uoff = lading_cpu_to_le64(ix->spans[i].uoff);
		e->ulen = lading_cpu_to_le32(ix->spans[i].ulen);
		e->coff = lading_cpu_to_le64(start);
		e->clen = lading_cpu_to_le32((uint32_t)(end - start));
		e->codec = LADING_CODEC_GZIP_INDEXED;
		memcpy(e->digest, ix->spans[i].digest, sizeof(e->digest));
	}
	toc->count = ix->count;
	toc->footer.magic = lading_cpu_to_le64(LADING_TOC_MAGIC);
	toc->footer.version = lading_cpu_to_le32(LADING_TOC_VERSION);
	toc->footer.codec = lading_cpu_to_le32(LADING_CODEC_GZIP_INDEXED);
	toc->footer.uncompressed_size = lading_cpu_to_le64(ix->uncompressed_size);
	toc->footer.chunk_size = rec->chunk_size;
	toc->footer.entries = lading_cpu_to_le32((uint32_t)ix->count);
	toc->zran = ix;
	return 0;
}

ssize_t lading_toc_find(const struct lading_toc *toc, uint64_t off)
{
	size_t lo = 0, hi = toc->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct lading_toc_entry *e = &toc->entries[mid];
		uint64_t uoff = lading_le64_to_cpu(e->uoff);
		uint64_t end = uoff + lading_toc_extent(toc, mid);

		if (off < uoff)
			hi = mid;
		else if (off >= end)
			lo = mid + 1;
		else
			return (ssize_t)mid;
	}
	return -1;
}

int lading_toc_map(const struct lading_toc *toc, uint64_t off, uint64_t len,
		   size_t *first, size_t *count)
{
	ssize_t a, b;

	if (!len || off + len < off ||
	    off + len > lading_le64_to_cpu(toc->footer.uncompressed_size))
		return -ERANGE;
	a = lading_toc_find(toc, off);
	b = lading_toc_find(toc, off + len - 1);
	if (a < 0 || b < 0)
		return -ERANGE;
	*first = (size_t)a;
	*count = (size_t)(b - a + 1);
	return 0;
}

int lading_toc_decode(const struct lading_toc_entry *e, const uint8_t *stored,
		      uint8_t *out)
{
	uint32_t ulen = lading_le32_to_cpu(e->ulen);
	struct lading_digest digest;
	int ret;

	ret = lading_codec_decompress((enum lading_codec)e->codec, stored,
				      lading_le32_to_cpu(e->clen), out, ulen);
	if (!ret)
		ret = lading_sha256(out, ulen, &digest);
	if (ret)
		return ret;
	return memcmp(digest.bytes, e->digest, sizeof(digest.bytes)) ? -EBADMSG : 0;
}

void lading_blob_record_from_info(struct lading_blob_record *rec,
				  const struct lading_blob_info *info)
{
	memset(rec, 0, sizeof(*rec));
	memcpy(rec->id, info->digest, sizeof(rec->id));
	rec->artifact_size = lading_cpu_to_le64(info->size);
	rec->uncompressed_size = lading_cpu_to_le64(info->uncompressed_size);
	rec->chunk_size = lading_cpu_to_le32(info->chunk_size);
	rec->codec = (uint8_t)info->codec;
	rec->toc_offset = lading_cpu_to_le64(info->toc_offset);
	rec->toc_size = lading_cpu_to_le64(info->toc_size);
	memcpy(rec->toc_digest, info->toc_digest, sizeof(rec->toc_digest));
}
