// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for tar ingest: lading's tree building over libarchive
 * (lib/source: tar.c, input.c, source.c) reading an in-memory stream, plain
 * or compressed, through a store that only indexes chunk digests.
 *
 * The first byte is a control byte: bit 0 reads the tar as image layer 2
 * over a small lower tree (OCI whiteouts, opaque directories, hardlinks
 * into the lower layer), bit 1 asks for the raw digest (the decoding
 * thread), bit 2 for a diff_id check, bits 4-6 the largest read the input
 * gives at a time (4 bytes to 64 KiB: libarchive's read-ahead across reads).
 * Invariants: a failure has a message, a success read every input byte.
 * tar_replay (reader_replay.c over this file) runs seeds in regular builds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lading/source.h>
#include "reader_fuzz.h"	/* lading_fuzz_one(), for reader_replay.c */
#include "../unit/mem_reader.h"

#define FUZZ_CHECK(c) do { if (!(c)) abort(); } while (0)

/* Layer 1 of the layered mode: a few entries a layer 2 may act on. */
static int lower_layer(struct lading_tree *tree)
{
	struct lading_inode *root = lading_tree_root(tree);
	struct lading_inode *dir = lading_inode_new(040755);
	struct lading_inode *f = lading_inode_new(0100644);
	struct lading_inode *l = lading_inode_new(0120777);
	int ret = -1;

	if (dir && f && l && (l->symlink = strdup("dir/f"))) {
		l->size = 5;
		ret = lading_tree_link(tree, root, "dir", 3, dir) ||
		      lading_tree_link(tree, dir, "f", 1, f) ||
		      lading_tree_link(tree, root, "link", 4, l) ? -1 : 0;
	}
	if (dir)
		lading_tree_inode_put(tree, dir);
	if (f)
		lading_tree_inode_put(tree, f);
	if (l)
		lading_tree_inode_put(tree, l);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return lading_fuzz_one(data, size);
}

int lading_fuzz_one(const uint8_t *data, size_t size)
{
	struct lading_store_params sp = {
		.chunk_size = 64u << 10, .digest_only = true,
		.codec = LADING_CODEC_NONE, .level = -1,
	};
	struct mem_reader m;
	struct lading_source_params p = {
		.read = mem_read, .read_ud = &m, .name = "fuzz",
		.inline_max = 256, .implicit_dir_mode = 0755,
	};
	struct lading_source_stats st;
	struct lading_error err = { 0 };
	struct lading_tree *tree;
	struct lading_store *store = NULL;
	uint8_t *copy;
	int ret;

	if (!size)
		return 0;
	/* an exact-size copy, so ASan sees any read past the end */
	copy = malloc(size - 1 ? size - 1 : 1);
	tree = lading_tree_new();
	if (!copy || !tree || lading_store_open(&store, &sp)) {
		free(copy);
		lading_tree_free(tree);
		return 0;
	}
	memcpy(copy, data + 1, size - 1);
	m = (struct mem_reader){ .p = copy, .len = size - 1,
				.step = (size_t)1 << (((data[0] >> 4) & 7) * 2 + 2) };
	if (m.step > (64u << 10))
		m.step = 64u << 10;
	p.layer = (data[0] & 1) ? 2 : 0;
	p.want_sha256 = data[0] & 2;
	p.expected_diff_id = (data[0] & 4) ?
		"0000000000000000000000000000000000000000000000000000000000000000" :
		NULL;
	if (!p.layer || !lower_layer(tree)) {
		ret = lading_source_load(tree, store, &p, &st, &err);
		if (ret) {
			FUZZ_CHECK(ret < 0 && err.code && err.msg[0]);
		} else {
			FUZZ_CHECK(m.pos == m.len);	/* read to its end */
			FUZZ_CHECK(!p.expected_diff_id);	/* the zero digest never matches */
		}
	}
	lading_store_free(store);
	lading_tree_free(tree);
	free(copy);
	return 0;
}
