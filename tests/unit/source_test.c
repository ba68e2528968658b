// SPDX-License-Identifier: MIT
/*
 * Unit tests for lib/source: tars built in memory with libarchive are read
 * through lading_source_load() (from a reader, as convert feeds layers)
 * into a tree and a digest-only store: entry types, inline and chunked
 * data, hardlinks, the raw input's sha256 (and a wrong expected one
 * refused), OCI whiteouts of a second layer, a truncated tar refused with
 * a message, a directory source, and the source-type names.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <lading/source.h>
#include "check.h"

struct membuf {
	uint8_t *data;
	size_t len, off;
};

static ssize_t mem_read(void *ud, void *buf, size_t len)
{
	struct membuf *m = ud;
	size_t n = m->len - m->off < len ? m->len - m->off : len;

	memcpy(buf, m->data + m->off, n);
	m->off += n;
	return (ssize_t)n;
}

struct member {
	const char *name;
	mode_t type;
	const char *data;	/* contents, symlink target or hardlink target */
	size_t size;		/* regular files: bytes of data (NULL data: 'x's) */
};

static size_t make_tar(const struct member *m, size_t n, uint8_t *out, size_t cap)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e;
	size_t used = 0, i;
	static char fill[65536];

	memset(fill, 'x', sizeof(fill));
	archive_write_set_format_pax_restricted(a);
	archive_write_open_memory(a, out, cap, &used);
	for (i = 0; i < n; i++) {
		e = archive_entry_new();
		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_mtime(e, 1000000000, 0);
		if (m[i].type == AE_IFLNK && !m[i].size) {
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_perm(e, 0777);
			archive_entry_set_symlink(e, m[i].data);
		} else if (m[i].type == 0) {	/* a hardlink */
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_entry_set_hardlink(e, m[i].data);
		} else {
			archive_entry_set_filetype(e, m[i].type);
			archive_entry_set_perm(e, m[i].type == AE_IFDIR ? 0755 : 0644);
			archive_entry_set_size(e, (la_int64_t)m[i].size);
		}
		archive_write_header(a, e);
		if (m[i].type == AE_IFREG && m[i].size)
			archive_write_data(a, m[i].data ? m[i].data : fill, m[i].size);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	return used;
}

struct loaded {
	struct lading_tree *tree;
	struct lading_store *store;
	struct lading_source_stats stats;
	struct lading_error err;
};

static int load(struct loaded *l, uint8_t *tar, size_t len, uint16_t layer,
		const char *expected)
{
	struct membuf m = { tar, len, 0 };
	struct lading_source_params p = {
		.read = mem_read, .read_ud = &m, .name = "mem.tar",
		.type = LADING_SOURCE_TAR, .inline_max = 64, .layer = layer,
		.implicit_dir_mode = 0755, .expected_sha256 = expected,
		.want_sha256 = true,
	};

	memset(&l->stats, 0, sizeof(l->stats));
	memset(&l->err, 0, sizeof(l->err));
	return lading_source_load(l->tree, l->store, &p, &l->stats, &l->err);
}

static void open_loaded(struct loaded *l)
{
	struct lading_store_params sp = { .chunk_size = 4096, .digest_only = true };

	l->tree = lading_tree_new();
	CHECK(l->tree != NULL);
	CHECK(!lading_store_open(&l->store, &sp));
}

static void close_loaded(struct loaded *l)
{
	lading_store_free(l->store);
	lading_tree_free(l->tree);
}

static void test_tar_tree(void)
{
	static const struct member m[] = {
		{ "d/", AE_IFDIR, NULL, 0 },
		{ "d/hello", AE_IFREG, "hello", 5 },
		{ "d/link", AE_IFLNK, "hello", 0 },
		{ "d/again", 0, "d/hello", 0 },
		{ "big", AE_IFREG, NULL, 10000 },
		{ "implied/sub/f", AE_IFREG, "f", 1 },
	};
	static uint8_t tar[1 << 17];
	size_t len = make_tar(m, LADING_ARRAY_SIZE(m), tar, sizeof(tar));
	struct loaded l;
	struct lading_inode *ino;
	uint8_t digest[32];
	char hex[65], wrong[65];
	unsigned int dl;

	CHECK(len > 0);
	EVP_Digest(tar, len, digest, &dl, EVP_sha256(), NULL);
	lading_hex_encode(hex, digest, 32);
	open_loaded(&l);
	CHECK(!load(&l, tar, len, 0, hex));
	CHECK_EQ_U64(l.stats.entries, 6);
	CHECK_EQ_U64(l.stats.regular, 3);	/* hello, big, f: again is a link */
	CHECK_EQ_U64(l.stats.hardlinks, 1);
	CHECK_EQ_U64(l.stats.symlinks, 1);
	CHECK_EQ_U64(l.stats.bytes, 5 + 10000 + 1);
	CHECK_EQ_U64(l.stats.inline_files, 2);
	CHECK(!strcmp(l.stats.raw_sha256, hex));
	CHECK_EQ_U64(l.stats.raw_bytes, len);

	ino = lading_tree_lookup_path(l.tree, "d/hello");
	CHECK(ino && S_ISREG(ino->mode) && ino->size == 5 && ino->inline_data &&
	      !memcmp(ino->inline_data, "hello", 5));
	CHECK(ino && lading_tree_lookup_path(l.tree, "d/again") == ino);
	ino = lading_tree_lookup_path(l.tree, "d/link");
	CHECK(ino && S_ISLNK(ino->mode) && ino->symlink && !strcmp(ino->symlink, "hello"));
	ino = lading_tree_lookup_path(l.tree, "big");
	/* 10000 bytes in 4 KiB chunks, out of line */
	CHECK(ino && ino->size == 10000 && ino->nchunks == 3 && !ino->inline_data);
	CHECK_EQ_U64(lading_store_stats(l.store)->chunks, 3);
	ino = lading_tree_lookup_path(l.tree, "implied/sub");
	CHECK(ino && S_ISDIR(ino->mode) && (ino->mode & 07777) == 0755);
	close_loaded(&l);

	/* the same bytes against another digest: refused, and said so */
	memcpy(wrong, hex, sizeof(wrong));
	wrong[0] = wrong[0] == '0' ? '1' : '0';
	open_loaded(&l);
	CHECK(load(&l, tar, len, 0, wrong) < 0);
	CHECK(strstr(l.err.msg, "mem.tar") != NULL);
	close_loaded(&l);

	/* cut inside big's data: an error naming the input, not a short file */
	open_loaded(&l);
	CHECK(load(&l, tar, 3000, 0, NULL) < 0);
	CHECK(l.err.msg[0] != '\0');
	close_loaded(&l);
}

static void test_whiteouts(void)
{
	static const struct member lower[] = {
		{ "a", AE_IFREG, "a", 1 },
		{ "dir/", AE_IFDIR, NULL, 0 },
		{ "dir/old", AE_IFREG, "o", 1 },
	};
	static const struct member upper[] = {
		{ ".wh.a", AE_IFREG, NULL, 0 },
		{ "dir/", AE_IFDIR, NULL, 0 },
		{ "dir/.wh..wh..opq", AE_IFREG, NULL, 0 },
		{ "dir/new", AE_IFREG, "n", 1 },
	};
	static uint8_t t1[1 << 14], t2[1 << 14];
	size_t l1 = make_tar(lower, LADING_ARRAY_SIZE(lower), t1, sizeof(t1));
	size_t l2 = make_tar(upper, LADING_ARRAY_SIZE(upper), t2, sizeof(t2));
	struct loaded l;

	open_loaded(&l);
	CHECK(!load(&l, t1, l1, 1, NULL));
	CHECK(lading_tree_lookup_path(l.tree, "a") != NULL);
	CHECK(!load(&l, t2, l2, 2, NULL));
	CHECK_EQ_U64(l.stats.whiteouts, 1);
	CHECK_EQ_U64(l.stats.opaque_dirs, 1);
	CHECK(lading_tree_lookup_path(l.tree, "a") == NULL);
	CHECK(lading_tree_lookup_path(l.tree, "dir/old") == NULL);
	CHECK(lading_tree_lookup_path(l.tree, "dir/new") != NULL);
	CHECK(lading_tree_lookup_path(l.tree, ".wh.a") == NULL);
	close_loaded(&l);
}

static void test_dir_source(void)
{
	char dir[] = "/tmp/lading-source-test-XXXXXX", path[128];
	struct lading_source_params p = { .type = LADING_SOURCE_AUTO,
					  .inline_max = 64,
					  .implicit_dir_mode = 0755 };
	struct loaded l;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/sub", dir);
	CHECK(!mkdir(path, 0700));
	snprintf(path, sizeof(path), "%s/sub/file", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("contents", f);
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/sym", dir);
	CHECK(!symlink("sub/file", path));
	p.path = dir;
	open_loaded(&l);
	memset(&l.stats, 0, sizeof(l.stats));
	CHECK(!lading_source_load(l.tree, l.store, &p, &l.stats, &l.err));
	CHECK_EQ_U64(l.stats.regular, 1);
	CHECK_EQ_U64(l.stats.directories, 1);
	CHECK_EQ_U64(l.stats.symlinks, 1);
	CHECK_EQ_U64(l.stats.bytes, 8);
	{
		struct lading_inode *ino = lading_tree_lookup_path(l.tree, "sub");

		CHECK(ino && S_ISDIR(ino->mode) && (ino->mode & 0777) == 0700);
		ino = lading_tree_lookup_path(l.tree, "sub/file");
		CHECK(ino && ino->size == 8 && ino->inline_data &&
		      !memcmp(ino->inline_data, "contents", 8));
	}
	close_loaded(&l);

	/* a path that is neither: one message naming it */
	snprintf(path, sizeof(path), "%s/missing", dir);
	p.path = path;
	open_loaded(&l);
	CHECK(lading_source_load(l.tree, l.store, &p, &l.stats, &l.err) < 0);
	CHECK(strstr(l.err.msg, "missing") != NULL);
	close_loaded(&l);

	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	CHECK(system(path) == 0);
}

static void test_type_names(void)
{
	enum lading_source_type t = LADING_SOURCE_AUTO;

	CHECK(!lading_source_type_parse("tar", &t) && t == LADING_SOURCE_TAR);
	CHECK(!lading_source_type_parse("dir", &t) && t == LADING_SOURCE_DIR);
	CHECK(!lading_source_type_parse("auto", &t) && t == LADING_SOURCE_AUTO);
	CHECK(lading_source_type_parse("zip", &t) == -EINVAL && t == LADING_SOURCE_AUTO);
}

int main(void)
{
	test_tar_tree();
	test_whiteouts();
	test_dir_source();
	test_type_names();
	return check_summary("source");
}
