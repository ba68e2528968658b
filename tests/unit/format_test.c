// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <unistd.h>
#include <lading/format.h>
#include <lading/tree.h>
#include "check.h"

static void test_crc32c(void)
{
	/* the standard check value is 0xE3069283 after the final xor */
	CHECK_EQ_U64(lading_crc32c(~0u, "123456789", 9) ^ ~0u, 0xE3069283u);
	CHECK_EQ_U64(lading_crc32c(~0u, "", 0), 0xffffffffu);
}

static void test_superblock_checksum(void)
{
	static uint8_t blk[LADING_BLOCK_SIZE];
	struct erofs_super_block sb = {
		.magic = lading_cpu_to_le32(EROFS_SUPER_MAGIC), .blkszbits = 12 };
	struct erofs_super_block *out;
	uint32_t stored, crc;

	memcpy(blk + EROFS_SUPER_OFFSET, &sb, sizeof(sb));
	blk[3000] = 0x5a;	/* bytes after the superblock are covered too */
	erofs_superblock_set_checksum(blk);
	out = (struct erofs_super_block *)(blk + EROFS_SUPER_OFFSET);
	CHECK(lading_le32_to_cpu(out->feature_compat) & EROFS_COMPAT_SB_CHKSUM);
	stored = lading_le32_to_cpu(out->checksum);
	out->checksum = lading_cpu_to_le32(0);
	crc = lading_crc32c(~0u, blk + EROFS_SUPER_OFFSET,
			    LADING_BLOCK_SIZE - EROFS_SUPER_OFFSET);
	CHECK_EQ_U64(stored, crc);
	/* a byte in block 0 before the superblock is not covered */
	out->checksum = lading_cpu_to_le32(stored);
	blk[10] = 1;
	erofs_superblock_set_checksum(blk);
	CHECK_EQ_U64(lading_le32_to_cpu(out->checksum), stored);
	blk[3000] = 0;
	erofs_superblock_set_checksum(blk);
	CHECK(lading_le32_to_cpu(out->checksum) != stored);
}

static void test_struct_offsets(void)
{
	CHECK_EQ_U64(offsetof(struct erofs_super_block, blocks_lo), 36);
	CHECK_EQ_U64(offsetof(struct erofs_super_block, uuid), 48);
	CHECK_EQ_U64(offsetof(struct erofs_super_block, feature_incompat), 80);
	CHECK_EQ_U64(offsetof(struct erofs_super_block, extra_devices), 86);
	CHECK_EQ_U64(offsetof(struct erofs_super_block, devt_slotoff), 88);
	CHECK_EQ_U64(offsetof(struct erofs_super_block, build_time), 108);
	CHECK_EQ_U64(offsetof(struct erofs_inode_compact, i_mtime), 12);
	CHECK_EQ_U64(offsetof(struct erofs_inode_compact, i_uid), 24);
	CHECK_EQ_U64(offsetof(struct erofs_inode_extended, i_mtime), 32);
	CHECK_EQ_U64(offsetof(struct erofs_inode_extended, i_nlink), 44);
	CHECK_EQ_U64(offsetof(struct erofs_deviceslot, blocks_lo), 64);
	CHECK_EQ_U64(offsetof(struct erofs_deviceslot, blocks_hi), 72);
}

static void test_dev_encoding(void)
{
	uint32_t ma, mi;

	CHECK_EQ_U64(erofs_encode_dev(8, 1), 0x801);
	erofs_decode_dev(erofs_encode_dev(259, 70000), &ma, &mi);
	CHECK_EQ_U64(ma, 259);
	CHECK_EQ_U64(mi, 70000);
}

static void test_xattr_names(void)
{
	const char *suffix;
	uint8_t idx;

	CHECK(!erofs_xattr_split_name("user.foo", &idx, &suffix));
	CHECK_EQ_U64(idx, EROFS_XATTR_INDEX_USER);
	CHECK(!strcmp(suffix, "foo"));
	CHECK(!erofs_xattr_split_name("security.capability", &idx, &suffix));
	CHECK_EQ_U64(idx, EROFS_XATTR_INDEX_SECURITY);
	CHECK(!erofs_xattr_split_name("system.posix_acl_access", &idx, &suffix));
	CHECK_EQ_U64(idx, EROFS_XATTR_INDEX_POSIX_ACL_ACCESS);
	CHECK(!strcmp(suffix, ""));
	CHECK(!erofs_xattr_split_name("system.posix_acl_default", &idx, &suffix));
	CHECK_EQ_U64(idx, EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT);
	CHECK(!erofs_xattr_split_name("trusted.overlay.opaque", &idx, &suffix));
	CHECK_EQ_U64(idx, EROFS_XATTR_INDEX_TRUSTED);
	CHECK(erofs_xattr_split_name("system.nfs4_acl", &idx, &suffix) < 0);
	CHECK(erofs_xattr_split_name("system.posix_acl_accessX", &idx, &suffix) < 0);
	CHECK(erofs_xattr_split_name("user.", &idx, &suffix) < 0);
	CHECK(!strcmp(erofs_xattr_prefix(EROFS_XATTR_INDEX_TRUSTED), "trusted."));
}

static void test_chunk_index(void)
{
	struct erofs_inode_chunk_index ci;
	uint8_t raw[8];

	erofs_chunk_index_encode(&ci, 1, 0x12345678);
	memcpy(raw, &ci, 8);
	CHECK(raw[0] == 0 && raw[1] == 0);	/* startblk_hi */
	CHECK(raw[2] == 1 && raw[3] == 0);	/* device_id */
	CHECK(raw[4] == 0x78 && raw[7] == 0x12);
	erofs_chunk_index_encode(&ci, 1, EROFS_NULL_ADDR);
	CHECK_EQ_U64(lading_le32_to_cpu(ci.startblk_lo), 0xffffffffu);
	CHECK_EQ_U64(lading_le16_to_cpu(ci.startblk_hi), 0xffff);
	CHECK_EQ_U64(lading_le16_to_cpu(ci.device_id), 0);
}

static void test_dirblock(void)
{
	static uint8_t blk[LADING_BLOCK_SIZE];
	struct erofs_dirent_in ents[400];
	char names[400][12];
	struct erofs_dirent de;
	size_t used, n, i;

	for (i = 0; i < 400; i++) {
		snprintf(names[i], sizeof(names[i]), "n%04zu", i);
		ents[i] = (struct erofs_dirent_in){ names[i], 5,
						    EROFS_FT_REG_FILE, 100 + i };
	}
	n = erofs_dirblock_fit(ents, 400, &used);
	CHECK_EQ_U64(n, LADING_BLOCK_SIZE / 17);	/* 12 + 5 bytes each */
	CHECK_EQ_U64(used, n * 17);
	erofs_dirblock_encode(blk, ents, n);
	memcpy(&de, blk, sizeof(de));
	CHECK_EQ_U64(lading_le16_to_cpu(de.nameoff), n * 12);	/* nameoff/12 = count */
	CHECK_EQ_U64(lading_le64_to_cpu(de.nid), 100);
	CHECK(!memcmp(blk + lading_le16_to_cpu(de.nameoff), "n0000", 5));
	memcpy(&de, blk + 12 * (n - 1), sizeof(de));
	CHECK_EQ_U64(lading_le16_to_cpu(de.nameoff), n * 12 + (n - 1) * 5);
	CHECK(blk[used] == 0);	/* the last name ends at a NUL or the block */

	CHECK(erofs_name_cmp("a", 1, "ab", 2) < 0);
	CHECK(erofs_name_cmp("b", 1, "ab", 2) > 0);
	CHECK(erofs_name_cmp(".", 1, "..", 2) < 0);
	CHECK(erofs_name_cmp("!", 1, ".", 1) < 0);
	CHECK(erofs_name_cmp("\xff", 1, "a", 1) > 0);	/* unsigned bytes */
}

static void test_file_types(void)
{
	CHECK_EQ_U64(erofs_file_type_of(S_IFREG | 0644), EROFS_FT_REG_FILE);
	CHECK_EQ_U64(erofs_file_type_of(S_IFDIR), EROFS_FT_DIR);
	CHECK_EQ_U64(erofs_file_type_of(S_IFLNK), EROFS_FT_SYMLINK);
	CHECK_EQ_U64(erofs_file_type_of(S_IFSOCK), EROFS_FT_SOCK);
	CHECK_EQ_U64(erofs_file_type_of(S_IFBLK), EROFS_FT_BLKDEV);
}

static struct lading_inode *add(struct lading_tree *t, const char *name,
				uint32_t mode)
{
	struct lading_inode *ino = lading_inode_new(mode);

	CHECK(!lading_tree_link(t, lading_tree_root(t), name, strlen(name), ino));
	lading_tree_inode_put(t, ino);
	return ino;
}

static void test_image_writer(void)
{
	struct lading_tree *t = lading_tree_new();
	struct lading_image_slot slot = { .blocks = 3 };
	struct lading_bootstrap_params prm = { .chunk_size = 4096, .slots = &slot,
					   .nslots = 1 };
	struct lading_bootstrap_stats st;
	struct lading_error err = { 0 };
	struct lading_inode *f, *big, *inl;
	struct erofs_super_block sb;
	struct erofs_inode_compact root;
	static uint8_t img[65536];
	int fd = memfd_create("img", 0);
	ssize_t n;

	memset(slot.tag, 'a', 64);
	f = add(t, "owner", S_IFREG | 0644);
	f->uid = 70000;			/* needs an extended inode */
	inl = add(t, "small", S_IFREG | 0600);
	inl->size = 3;
	inl->inline_data = (uint8_t *)strdup("abc");
	big = add(t, "big", S_IFREG | 0644);
	big->size = 5000;		/* two 4 KiB chunks */
	big->nchunks = 2;
	big->chunks = calloc(2, sizeof(*big->chunks));
	big->chunks[0] = (struct lading_chunk_ref){ 0, 1, 0 };
	big->chunks[1] = (struct lading_chunk_ref){ LADING_CHUNK_HOLE, 0, 0 };
	CHECK(!lading_tree_link(t, lading_tree_root(t), "link", 4, big));

	CHECK(fd >= 0);
	CHECK(!lading_bootstrap_write(t, &prm, fd, &st, &err));
	CHECK_EQ_U64(st.inodes, 4);
	CHECK_EQ_U64(st.extended_inodes, 1);
	CHECK_EQ_U64(st.compact_inodes, 3);
	n = pread(fd, img, sizeof(img), 0);
	CHECK_EQ_U64(n, st.blocks * LADING_BLOCK_SIZE);
	memcpy(&sb, img + EROFS_SUPER_OFFSET, sizeof(sb));
	CHECK_EQ_U64(lading_le32_to_cpu(sb.magic), EROFS_SUPER_MAGIC);
	CHECK_EQ_U64(lading_le64_to_cpu(sb.inos), 4);
	CHECK_EQ_U64(lading_le16_to_cpu(sb.extra_devices), 1);
	CHECK_EQ_U64(lading_le16_to_cpu(sb.devt_slotoff) * 128u, 1152);
	CHECK(lading_le32_to_cpu(sb.feature_incompat) & EROFS_INCOMPAT_CHUNKED_FILE);
	CHECK(lading_le32_to_cpu(sb.feature_incompat) & EROFS_INCOMPAT_DEVICE_TABLE);
	CHECK(!memcmp(img + 1152, slot.tag, 64));
	CHECK_EQ_U64(img[1152 + 64], 3);	/* blocks_lo */
	CHECK_EQ_U64(lading_le32_to_cpu(sb.blocks_lo), st.blocks);
	CHECK_EQ_U64(lading_le16_to_cpu(sb.rb.rootnid_2b), 0);
	memcpy(&root, img + (size_t)lading_le32_to_cpu(sb.meta_blkaddr) *
			    LADING_BLOCK_SIZE, sizeof(root));
	CHECK(S_ISDIR(lading_le16_to_cpu(root.i_mode)));
	CHECK_EQ_U64(lading_le16_to_cpu(root.i_format), EROFS_INODE_FLAT_INLINE << 1);
	CHECK_EQ_U64(lading_le16_to_cpu(root.i_nb.nlink), 2);
	CHECK_EQ_U64(big->nlink, 2);
	/* the uuid is derived from the content, so it is stable and not 0 */
	CHECK(memcmp(sb.uuid, (uint8_t[16]){ 0 }, 16) != 0);
	lading_tree_free(t);
	close(fd);
}

struct walk_seen {
	int entries;
	bool saw_big, saw_link_second;
	uint64_t big_nid, sym_nid;
};

static int walk_cb(void *ud, const struct lading_rentry *e)
{
	struct walk_seen *w = ud;

	w->entries++;
	if (!strcmp(e->path, "big")) {
		w->saw_big = true;
		w->big_nid = e->inode->nid;
		CHECK(e->first_link);
		CHECK_EQ_U64(e->inode->nlink, 2);
		CHECK_EQ_U64(e->inode->nchunks, 2);
	}
	if (!strcmp(e->path, "link"))
		w->saw_link_second = !e->first_link;
	if (!strcmp(e->path, "sym"))
		w->sym_nid = e->inode->nid;
	return 0;
}

static int count_x(void *ud, const char *name, const void *v, size_t len)
{
	CHECK(!strcmp(name, "user.k"));
	CHECK(len == 1 && !memcmp(v, "v", 1));
	(*(int *)ud)++;
	return 0;
}

static void test_reader_roundtrip(void)
{
	struct lading_tree *t = lading_tree_new();
	struct lading_image_slot slot = { .blocks = 3 };
	struct lading_bootstrap_params prm = { .chunk_size = 4096, .slots = &slot,
					   .nslots = 1 };
	struct lading_bootstrap_stats st;
	struct lading_error err = { 0 };
	struct lading_reader *r = NULL;
	struct lading_rinode ino;
	struct lading_rchunk c;
	struct lading_inode *big, *inl, *lnk;
	struct walk_seen seen = { 0 };
	static uint8_t img[65536];
	int fd = memfd_create("img2", 0);
	char buf[4096];
	ssize_t n;

	memset(slot.tag, 'b', 64);
	inl = add(t, "small", S_IFREG | 0600);
	inl->size = 3;
	inl->inline_data = (uint8_t *)strdup("xyz");
	lnk = add(t, "sym", S_IFLNK | 0777);
	lnk->symlink = strdup("small");
	lnk->size = 5;
	big = add(t, "big", S_IFREG | 0644);
	big->size = 5000;
	big->nchunks = 2;
	big->chunks = calloc(2, sizeof(*big->chunks));
	big->chunks[0] = (struct lading_chunk_ref){ 2, 1, 0 };
	big->chunks[1] = (struct lading_chunk_ref){ LADING_CHUNK_HOLE, 0, 0 };
	CHECK(!lading_inode_set_xattr(big, "user.k", "v", 1));
	CHECK(!lading_tree_link(t, lading_tree_root(t), "link", 4, big));
	CHECK(!lading_bootstrap_write(t, &prm, fd, &st, &err));
	n = pread(fd, img, sizeof(img), 0);
	CHECK(n > 0);
	CHECK(!lading_reader_open_mem(&r, img, (size_t)n, &err));
	if (!r) {
		fprintf(stderr, "reader: %s\n", err.msg);
		check_failures++;
		lading_tree_free(t);
		return;
	}
	CHECK_EQ_U64(lading_reader_nslots(r), 1);
	CHECK_EQ_U64(lading_reader_find_blob(r, slot.tag), 1);
	CHECK_EQ_U64(lading_reader_find_blob(r, "nope"), 0);
	CHECK_EQ_U64(lading_reader_slot(r, 1)->blocks, 3);
	CHECK(!lading_reader_walk(r, walk_cb, &seen, &err));
	CHECK_EQ_U64(seen.entries, 5);	/* root + 4 names */
	CHECK(seen.saw_big && seen.saw_link_second);
	CHECK(!lading_reader_inode(r, 0, &ino, &err));
	CHECK(S_ISDIR(ino.mode));
	/* the chunk map and xattrs of "big" */
	CHECK(!lading_reader_inode(r, seen.big_nid, &ino, &err));
	CHECK_EQ_U64(ino.layout, EROFS_INODE_CHUNK_BASED);
	CHECK(!lading_reader_chunk(r, &ino, 0, &c, &err));
	CHECK(!c.hole && c.device_id == 1 && c.blkaddr == 2 && c.length == 4096);
	CHECK(!lading_reader_chunk(r, &ino, 1, &c, &err));
	CHECK(c.hole && c.offset == 4096 && c.length == 904);
	CHECK(lading_reader_chunk(r, &ino, 2, &c, &err) == -EUCLEAN);
	lading_error_clear(&err);
	{
		int nx = 0;

		CHECK(!lading_reader_xattrs(r, &ino, count_x, &nx, &err));
		CHECK_EQ_U64(nx, 1);
	}
	CHECK(!lading_reader_inode(r, seen.sym_nid, &ino, &err));
	CHECK(!lading_reader_symlink(r, &ino, buf, &err));
	CHECK(!strcmp(buf, "small"));
	lading_reader_close(r);

	/* flipping a checksummed byte is caught */
	img[1024 + 40] ^= 1;
	CHECK(lading_reader_open_mem(&r, img, (size_t)n, &err) == -EUCLEAN);
	CHECK(strstr(err.msg, "checksum") != NULL);
	img[1024 + 40] ^= 1;
	lading_error_clear(&err);
	/* truncation is caught */
	CHECK(lading_reader_open_mem(&r, img, 4096, &err) == -EUCLEAN);
	lading_error_clear(&err);
	lading_tree_free(t);
	close(fd);
}

/*
 * 512-byte blocks (a tar stream addressed in place): the writer's image
 * and the reader agree on blocks, chunk addresses, slot sizes, a big
 * directory over several 512-byte blocks, and the superblock checksum
 * over [1024, 1536).
 */
static int find_data(void *ud, const struct lading_rentry *e)
{
	uint64_t *nid = ud;

	if (!strcmp(e->path, "data"))
		*nid = e->inode->nid;
	nid[1]++;
	return 0;
}

static void test_small_blocks(void)
{
	struct lading_tree *t = lading_tree_new();
	struct lading_image_slot slot = { .blocks = 100 };
	struct lading_bootstrap_params prm = { .chunk_size = 1024, .slots = &slot,
					       .nslots = 1, .blkszbits = 9 };
	struct lading_bootstrap_stats st;
	struct lading_error err = { 0 };
	struct lading_reader *r = NULL;
	struct lading_rinode ino;
	struct lading_rchunk c;
	struct lading_inode *f;
	uint64_t seen[2] = { 0, 0 };	/* nid of "data", entries */
	static uint8_t img[1 << 20];
	int fd = memfd_create("img512", 0), i;
	ssize_t n;

	memset(slot.tag, 'c', 64);
	f = add(t, "data", S_IFREG | 0644);
	f->size = 2500;		/* 3 chunks of 1 KiB, at tar offset 1536 */
	f->nchunks = 3;
	f->chunks = calloc(3, sizeof(*f->chunks));
	for (i = 0; i < 3; i++)
		f->chunks[i] = (struct lading_chunk_ref){ (uint32_t)(3 + 2 * i), 1, 0 };
	for (i = 0; i < 60; i++) {	/* a directory of several blocks */
		char name[32];

		snprintf(name, sizeof(name), "file-with-a-long-name-%02d", i);
		add(t, name, S_IFREG | 0600);
	}
	CHECK(!lading_bootstrap_write(t, &prm, fd, &st, &err));
	n = pread(fd, img, sizeof(img), 0);
	CHECK(n > 0 && n % 512 == 0 && (uint64_t)n == st.blocks * 512);
	CHECK_EQ_U64(img[1024 + 12], 9);
	CHECK(!lading_reader_open_mem(&r, img, (size_t)n, &err));
	if (!r) {
		fprintf(stderr, "reader: %s\n", err.msg);
		check_failures++;
		lading_tree_free(t);
		close(fd);
		return;
	}
	CHECK_EQ_U64(lading_reader_blkszbits(r), 9);
	CHECK_EQ_U64(lading_reader_slot(r, 1)->blocks, 100);
	CHECK(!lading_reader_walk(r, find_data, seen, &err));
	CHECK_EQ_U64(seen[1], 62);
	CHECK(!lading_reader_inode(r, seen[0], &ino, &err));
	CHECK_EQ_U64(ino.chunk_bits, 10);
	CHECK(!lading_reader_chunk(r, &ino, 2, &c, &err));
	CHECK(c.device_id == 1 && c.blkaddr == 7 && c.offset == 2048 && c.length == 452);
	lading_reader_close(r);
	/* the checksum covers [1024, 1536): a byte there is caught */
	img[1024 + 300] ^= 1;
	CHECK(lading_reader_open_mem(&r, img, (size_t)n, &err) == -EUCLEAN);
	CHECK(strstr(err.msg, "checksum") != NULL);
	img[1024 + 300] ^= 1;
	lading_error_clear(&err);
	/* other block sizes are refused by both */
	prm.blkszbits = 10;
	CHECK(lading_bootstrap_write(t, &prm, fd, &st, &err) == -EINVAL);
	lading_tree_free(t);
	close(fd);
}

int main(void)
{
	test_small_blocks();
	test_reader_roundtrip();
	test_image_writer();
	test_crc32c();
	test_superblock_checksum();
	test_struct_offsets();
	test_dev_encoding();
	test_xattr_names();
	test_chunk_index();
	test_dirblock();
	test_file_types();
	return check_summary("format");
}
