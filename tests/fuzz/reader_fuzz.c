// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the bounds-checked EROFS reader (lib/format/reader.c).
 *
 * The input is a bootstrap image.  It is opened with lading_reader_open_mem()
 * and walked completely; for every entry the xattrs are read, and for the
 * first name of every inode its symlink target, its flat data (directories,
 * symlinks, flat regular files) and every chunk index.  Results are thrown
 * away: the target only has to survive (no crash, leak, hang or UB).
 *
 * Beyond the sanitizers, a few cheap invariants of the reader's API are
 * checked (FUZZ_CHECK): a value the reader accepted must be consistent with
 * the image it came from.  A violation aborts, so libFuzzer keeps the input.
 *
 * The same entry point is used by reader_replay.c for regular builds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lading/format.h>

#include "reader_fuzz.h"

#define FUZZ_CHECK(cond)                                                     \
	do {                                                                 \
		if (!(cond))                                                 \
			fuzz_fail(__FILE__, __LINE__, #cond);                \
	} while (0)

struct fuzz_ctx {
	struct lading_reader *r;
	size_t len;		/* bytes the reader trusts */
	uint64_t entries;
};

/* LADING_FUZZ_DEBUG=1: say how far each input got (for corpus work) */
static void debug_report(const char *stage, int ret, const struct fuzz_ctx *c,
			 const struct lading_error *err)
{
	static int debug = -1;

	if (debug < 0)
		debug = getenv("LADING_FUZZ_DEBUG") != NULL;
	if (debug)
		fprintf(stderr, "reader_fuzz: %s: ret %d, %llu entries%s%s\n",
			stage, ret, (unsigned long long)c->entries,
			ret ? ": " : "", ret ? err->msg : "");
}

static void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: reader invariant broken: %s\n", file, line, what);
	abort();
}

static int on_xattr(void *ud, const char *name, const void *value, size_t len)
{
	volatile uint8_t sink = 0;

	(void)ud;
	FUZZ_CHECK(name != NULL && name[0] != '\0');
	if (len)
		sink = ((const uint8_t *)value)[len - 1];	/* touch it */
	(void)sink;
	return 0;
}

/* Reads the flat data block by block. */
static void read_flat_all(struct fuzz_ctx *c, const struct lading_rinode *ino)
{
	static uint8_t buf[LADING_BLOCK_SIZE];
	struct lading_error err = { 0 };
	uint64_t off = 0;

	while (off < ino->size) {
		size_t n = ino->size - off < sizeof(buf) ?
			   (size_t)(ino->size - off) : sizeof(buf);

		/* the inode was accepted: all of its data lies in the image */
		if (lading_reader_read_flat(c->r, ino, off, buf, n, &err)) {
			fprintf(stderr, "%s\n", err.msg);
			FUZZ_CHECK(!"read_flat failed on an accepted inode");
		}
		off += n;
		/* every byte read was in the image: no inode holds more */
		FUZZ_CHECK(off <= (uint64_t)c->len + LADING_BLOCK_SIZE);
	}
}

static void read_symlink(struct fuzz_ctx *c, const struct lading_rinode *ino)
{
	char target[4096];
	struct lading_error err = { 0 };

	if (lading_reader_symlink(c->r, ino, target, &err))
		return;
	FUZZ_CHECK(strlen(target) == ino->size);
}

static void check_chunk(struct fuzz_ctx *c, const struct lading_rinode *ino,
			const struct lading_rchunk *ch)
{
	uint64_t csize = 1ull << ino->chunk_bits;

	FUZZ_CHECK(ch->length > 0 && ch->length <= csize);
	FUZZ_CHECK(ch->offset < ino->size);
	if (ch->hole)
		return;
	if (ch->device_id == 0)
		FUZZ_CHECK((ch->blkaddr + (ch->length + LADING_BLOCK_SIZE - 1) /
			    LADING_BLOCK_SIZE) * LADING_BLOCK_SIZE <= c->len);
	else
		FUZZ_CHECK(lading_reader_slot(c->r, ch->device_id) != NULL);
}

static void read_chunks(struct fuzz_ctx *c, const struct lading_rinode *ino)
{
	struct lading_error err = { 0 };
	struct lading_rchunk ch;
	uint64_t i;

	FUZZ_CHECK(ino->chunk_bits >= LADING_BLOCK_BITS && ino->chunk_bits <= 63);
	/* the chunks must cover the file */
	FUZZ_CHECK(ino->nchunks >= ino->size >> ino->chunk_bits);
	for (i = 0; i < ino->nchunks; i++) {
		memset(&err, 0, sizeof(err));
		if (lading_reader_chunk(c->r, ino, i, &ch, &err))
			continue;
		check_chunk(c, ino, &ch);
	}
	/* one past the end is refused */
	FUZZ_CHECK(lading_reader_chunk(c->r, ino, ino->nchunks, &ch, &err) != 0);
}

static void read_data(struct fuzz_ctx *c, const struct lading_rinode *ino)
{
	if (S_ISLNK(ino->mode))
		read_symlink(c, ino);
	if (ino->layout == EROFS_INODE_CHUNK_BASED)
		read_chunks(c, ino);
	else if (S_ISDIR(ino->mode) || S_ISLNK(ino->mode) || S_ISREG(ino->mode))
		read_flat_all(c, ino);
}

static int on_entry(void *ud, const struct lading_rentry *e)
{
	struct fuzz_ctx *c = ud;
	struct lading_error err = { 0 };

	FUZZ_CHECK(e->inode != NULL && e->path != NULL);
	FUZZ_CHECK(e->inode->pos + e->inode->isize <= c->len);
	c->entries++;
	(void)lading_reader_xattrs(c->r, e->inode, on_xattr, NULL, &err);
	/* hardlinks: data once per inode, or the work grows quadratically */
	if (e->first_link)
		read_data(c, e->inode);
	return 0;
}

int lading_fuzz_one(const uint8_t *data, size_t size)
{
	struct lading_error err = { 0 };
	struct fuzz_ctx c = { 0 };
	const uint8_t *img;
	uint32_t i;
	int ret;

	if (lading_reader_open_mem(&c.r, data, size, &err)) {
		FUZZ_CHECK(err.code != 0 && err.msg[0] != '\0');
		debug_report("open", -1, &c, &err);
		return 0;
	}
	img = lading_reader_image(c.r, &c.len);
	FUZZ_CHECK(img != NULL && c.len <= size);
	FUZZ_CHECK(lading_reader_super(c.r) != NULL);
	for (i = 0; i <= lading_reader_nslots(c.r); i++) {
		const struct lading_rslot *slot = lading_reader_slot(c.r, (uint16_t)i);

		(void)lading_reader_blob_record(c.r, (uint16_t)i);
		/* a slot is found again by its tag (first of equal tags) */
		if (slot)
			FUZZ_CHECK(lading_reader_find_blob(c.r, slot->tag) != 0);
	}
	memset(&err, 0, sizeof(err));
	ret = lading_reader_walk(c.r, on_entry, &c, &err);
	/* a refusal always says why (lading-verify prints it) */
	FUZZ_CHECK(ret == 0 || (ret < 0 && err.msg[0] != '\0'));
	debug_report("walk", ret, &c, &err);
	lading_reader_close(c.r);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return lading_fuzz_one(data, size);
}

#ifdef LADING_FUZZ_MUTATOR
/*
 * libFuzzer only: most mutations of block 0 break the superblock checksum
 * and die at open.  After libFuzzer's own mutation, re-seal the checksum
 * (when SB_CHKSUM is set) in 7 of 8 cases so the rest of the reader sees
 * damaged superblocks too; the 8th keeps the checksum check itself fuzzed.
 */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	uint8_t *sb = data + EROFS_SUPER_OFFSET;
	uint32_t compat, crc;

	size = LLVMFuzzerMutate(data, size, max_size);
	if (size < LADING_BLOCK_SIZE || seed % 8 == 0)
		return size;
	memcpy(&compat, sb + 8, 4);
	if (!(compat & EROFS_COMPAT_SB_CHKSUM))
		return size;
	memset(sb + 4, 0, 4);
	crc = lading_crc32c(~0u, sb, LADING_BLOCK_SIZE - EROFS_SUPER_OFFSET);
	memcpy(sb + 4, &crc, 4);
	return size;
}
#endif
