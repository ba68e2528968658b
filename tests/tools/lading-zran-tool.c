// SPDX-License-Identifier: MIT
/*
 * Test and bench helper for the gzip seek index (not installed):
 *
 *   lading-zran-tool index GZ SPAN [IDX]   one pass: the index (written to
 *       IDX if given); prints the stream's sizes and digests, the span
 *       count, the index size and the mean/max compressed bytes of a span
 *   lading-zran-tool check GZ IDX          extracts every span alone from
 *       its compressed range and checks it; prints the spans that fail
 *   lading-zran-tool cat GZ IDX OFF LEN    writes [OFF, OFF+LEN) of the
 *       uncompressed stream to stdout, through the spans only
 *   lading-zran-tool bootstrap GZ SPAN BOOT IDX   the layer kept as it is:
 *       a bootstrap (512-byte blocks, the tar stream as device 1) and the
 *       seek index; prints the slot tag
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lading/keep.h>
#include <lading/tree.h>

static ssize_t fd_read(void *ud, void *buf, size_t len)
{
	ssize_t n = read(*(int *)ud, buf, len);

	return n < 0 ? -errno : n;
}

static int load(const char *path, uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int ret;

	if (fd < 0 || fstat(fd, &st))
		return -errno;
	*len = (size_t)st.st_size;
	*buf = malloc(*len ? *len : 1);
	ret = *buf ? lading_pread_full(fd, *buf, *len, 0) : -ENOMEM;
	close(fd);
	return ret;
}

static int cmd_index(const char *gz, const char *span_s, const char *out)
{
	struct lading_error err = { 0 };
	struct lading_zran_builder *b;
	struct lading_zran_index *ix;
	uint64_t span, maxc = 0, sumc = 0;
	char hex[LADING_DIGEST_HEX_LEN + 1];
	uint8_t *enc, *buf = malloc(1 << 20);
	size_t enclen, i;
	ssize_t n;
	int fd, ret;

	if (lading_parse_size(span_s, &span) || !buf)
		return 2;
	fd = open(gz, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(gz);
		return 1;
	}
	ret = lading_zran_builder_new(&b, fd_read, &fd, (uint32_t)span, &err);
	if (ret)
		goto fail;
	while ((n = lading_zran_builder_read(b, buf, 1 << 20)) > 0)
		;
	ret = n < 0 ? (int)n : lading_zran_builder_finish(b, &ix);
	lading_zran_builder_free(b);
	free(buf);
	buf = NULL;
	if (ret)
		goto fail;
	ret = lading_zran_encode(ix, &enc, &enclen);
	if (ret)
		goto fail;
	if (out && lading_write_file_atomic(out, enc, enclen, &err))
		goto fail;
	for (i = 0; i < ix->count; i++) {
		uint64_t s, e;

		lading_zran_span_range(ix, i, &s, &e);
		sumc += e - s;
		if (e - s > maxc)
			maxc = e - s;
	}
	printf("compressed %llu\nuncompressed %llu\n",
	       (unsigned long long)ix->compressed_size,
	       (unsigned long long)ix->uncompressed_size);
	lading_digest_hex(&ix->blob_digest, hex);
	printf("blob sha256:%s\n", hex);
	lading_digest_hex(&ix->diff_id, hex);
	printf("diff_id sha256:%s\n", hex);
	printf("spans %zu\nindex %zu\nwindows %zu\n", ix->count, enclen,
	       ix->windows_size);
	printf("index_per_mille %.2f\n",
	       ix->compressed_size ? 1000.0 * enclen / ix->compressed_size : 0);
	printf("span_clen_mean %llu\nspan_clen_max %llu\n",
	       (unsigned long long)(ix->count ? sumc / ix->count : 0),
	       (unsigned long long)maxc);
	free(enc);
	lading_zran_free(ix);
	close(fd);
	return 0;
fail:
	fprintf(stderr, "lading-zran-tool: %s: %s\n", gz, lading_error_message(&err, ret));
	free(buf);
	close(fd);
	return 1;
}

static int open_both(const char *gz, const char *idx, uint8_t **g, size_t *glen,
		     struct lading_zran_index **ix)
{
	struct lading_error err = { 0 };
	uint8_t *ib;
	size_t ilen;
	int ret;

	if ((ret = load(gz, g, glen)) || (ret = load(idx, &ib, &ilen))) {
		fprintf(stderr, "lading-zran-tool: %s\n", strerror(-ret));
		return ret;
	}
	ret = lading_zran_decode(ib, ilen, ix, &err);
	free(ib);
	if (!ret && (*ix)->compressed_size != *glen)
		ret = lading_error_set(&err, EUCLEAN, "index is for another blob size");
	if (ret)
		fprintf(stderr, "lading-zran-tool: %s: %s\n", idx,
			lading_error_message(&err, ret));
	return ret;
}

static int cmd_check(const char *gz, const char *idx)
{
	struct lading_zran_index *ix;
	uint8_t *g, *out = malloc(LADING_ZRAN_SPAN_LIMIT);
	size_t glen, i, bad = 0;

	if (!out || open_both(gz, idx, &g, &glen, &ix))
		return 1;
	for (i = 0; i < ix->count; i++) {
		struct lading_error err = { 0 };
		uint64_t s, e;

		lading_zran_span_range(ix, i, &s, &e);
		if (lading_zran_extract(ix, i, g + s, e - s, out, &err)) {
			printf("bad %s\n", err.msg);
			bad++;
		}
	}
	printf("spans %zu bad %zu\n", ix->count, bad);
	lading_zran_free(ix);
	free(g);
	free(out);
	return bad ? 1 : 0;
}

static int cmd_cat(const char *gz, const char *idx, const char *off_s,
		   const char *len_s)
{
	struct lading_zran_index *ix;
	uint8_t *g, *out = malloc(LADING_ZRAN_SPAN_LIMIT);
	uint64_t off, len;
	size_t glen, first, count, i;

	if (!out || lading_parse_size(off_s, &off) || lading_parse_size(len_s, &len) ||
	    open_both(gz, idx, &g, &glen, &ix) ||
	    lading_zran_map(ix, off, len, &first, &count))
		return 1;
	for (i = first; i < first + count; i++) {
		const struct lading_zran_span *sp = &ix->spans[i];
		struct lading_error err = { 0 };
		uint64_t s, e, a, z;

		lading_zran_span_range(ix, i, &s, &e);
		if (lading_zran_extract(ix, i, g + s, e - s, out, &err)) {
			fprintf(stderr, "lading-zran-tool: %s\n", err.msg);
			return 1;
		}
		a = off > sp->uoff ? off - sp->uoff : 0;
		z = off + len < sp->uoff + sp->ulen ? off + len - sp->uoff : sp->ulen;
		if (lading_write_full(1, out + a, z - a))
			return 1;
	}
	lading_zran_free(ix);
	free(g);
	free(out);
	return 0;
}

static int cmd_bootstrap(const char *gz, const char *span_s, const char *boot,
			 const char *idx)
{
	struct lading_error err = { 0 };
	struct lading_build_options bo;
	struct lading_keep_params kp = { .name = gz, .layer = 1, .device_id = 1 };
	struct lading_tree *tree = lading_tree_new();
	struct lading_zran_index *ix = NULL;
	struct lading_source_stats st;
	struct lading_bootstrap_stats bs;
	struct lading_image_slot slot;
	struct lading_blob_record rec;
	struct lading_bootstrap_params bp = { .blkszbits = LADING_KEEP_BLKSZBITS };
	uint8_t *enc = NULL;
	size_t enclen;
	uint64_t span;
	int fd = open(gz, O_RDONLY | O_CLOEXEC), out = -1, ret;

	if (fd < 0 || !tree || lading_parse_size(span_s, &span))
		return 2;
	lading_build_options_init(&bo);
	kp.build = &bo;
	kp.read = fd_read;
	kp.read_ud = &fd;
	kp.span_size = (uint32_t)span;
	ret = lading_keep_layer_load(tree, &kp, &ix, &st, &err);
	if (!ret)
		ret = lading_tree_apply_policy(tree, &bo.policy);
	if (!ret)
		ret = lading_zran_encode(ix, &enc, &enclen);
	if (!ret)
		ret = lading_keep_layer_slot(ix, enc, enclen, bo.chunk_size, &slot, &rec);
	if (!ret)
		ret = lading_write_file_atomic(idx, enc, enclen, &err);
	if (!ret) {
		bp.chunk_size = bo.chunk_size;
		bp.slots = &slot;
		bp.nslots = 1;
		bp.records = &rec;
		out = open(boot, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		ret = out < 0 ? -errno :
		      lading_bootstrap_write(tree, &bp, out, &bs, &err);
	}
	if (ret)
		fprintf(stderr, "lading-zran-tool: %s\n", lading_error_message(&err, ret));
	else
		printf("tag %s\nbootstrap %llu\nindex %zu\n", slot.tag,
		       (unsigned long long)bs.blocks << LADING_KEEP_BLKSZBITS, enclen);
	if (out >= 0)
		close(out);
	close(fd);
	free(enc);
	lading_zran_free(ix);
	lading_tree_free(tree);
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "bootstrap"))
		return cmd_bootstrap(argv[2], argv[3], argv[4], argv[5]);
	if (argc >= 4 && argc <= 5 && !strcmp(argv[1], "index"))
		return cmd_index(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
	if (argc == 4 && !strcmp(argv[1], "check"))
		return cmd_check(argv[2], argv[3]);
	if (argc == 6 && !strcmp(argv[1], "cat"))
		return cmd_cat(argv[2], argv[3], argv[4], argv[5]);
	fprintf(stderr, "usage: lading-zran-tool index GZ SPAN [IDX] | check GZ IDX | cat GZ IDX OFF LEN | bootstrap GZ SPAN BOOT IDX\n");
	return 2;
}
