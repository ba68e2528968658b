// SPDX-License-Identifier: MIT
/*
 * The on-disk byte layout, independent of the host's byte order: every
 * value is encoded through the accessors of lading/ondisk.h and compared
 * with a fixed little-endian byte string (and decoded back), so a
 * big-endian host passes exactly when its images are the same bytes.
 * Built with LADING_ONDISK_ONLY it needs nothing but lading/ondisk.h:
 * tests/unit/ondisk_big_endian.sh cross-compiles it so for s390x and
 * runs it under qemu.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lading/ondisk.h>
#ifndef LADING_ONDISK_ONLY
#include <lading/format.h>
#include <lading/tree.h>
#endif
#include "check.h"

#define BYTES(...) ((const uint8_t[]){ __VA_ARGS__ })

static void test_accessors(void)
{
	lading_le16 a = lading_cpu_to_le16(0x0102);
	lading_le32 b = lading_cpu_to_le32(0x01020304u);
	lading_le64 c = lading_cpu_to_le64(0x0102030405060708ull);
	const uint8_t raw[] = { 0x11, 0x22, 0x33, 0x44, 0x55 };

	CHECK(!memcmp(&a, BYTES(0x02, 0x01), 2));
	CHECK(!memcmp(&b, BYTES(0x04, 0x03, 0x02, 0x01), 4));
	CHECK(!memcmp(&c, BYTES(0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01), 8));
	CHECK_EQ_U64(lading_le16_to_cpu(a), 0x0102);
	CHECK_EQ_U64(lading_le32_to_cpu(b), 0x01020304u);
	CHECK_EQ_U64(lading_le64_to_cpu(c), 0x0102030405060708ull);
	/* extremes: no sign extension, no lost top byte */
	CHECK_EQ_U64(lading_le16_to_cpu(lading_cpu_to_le16(0xffff)), 0xffff);
	CHECK_EQ_U64(lading_le32_to_cpu(lading_cpu_to_le32(0x80000001u)),
		     0x80000001u);
	CHECK_EQ_U64(lading_le64_to_cpu(lading_cpu_to_le64(0x8000000000000001ull)),
		     0x8000000000000001ull);
	/* unaligned reads of on-disk arrays */
	CHECK_EQ_U64(lading_get_le32(raw + 1), 0x55443322u);
	CHECK_EQ_U64(lading_get_le16(raw + 1), 0x3322);
}

/* Offsets as in the kernel's fs/erofs/erofs_fs.h. */
static void test_erofs_layout(void)
{
	struct erofs_super_block sb;
	struct erofs_inode_compact ic;
	struct erofs_inode_extended ie;
	struct erofs_dirent de;
	const uint8_t *p;

	memset(&sb, 0, sizeof(sb));
	sb.magic = lading_cpu_to_le32(EROFS_SUPER_MAGIC);
	sb.rb.rootnid_2b = lading_cpu_to_le16(0x1234);
	sb.epoch = lading_cpu_to_le64(0x0000000a0b0c0d0eull);
	sb.blocks_lo = lading_cpu_to_le32(0xa1a2a3a4u);
	sb.extra_devices = lading_cpu_to_le16(0x0203);
	sb.devt_slotoff = lading_cpu_to_le16(9);
	sb.build_time = lading_cpu_to_le32(0x01000000u);
	p = (const uint8_t *)&sb;
	CHECK(!memcmp(p, BYTES(0xe2, 0xe1, 0xf5, 0xe0), 4));
	CHECK(!memcmp(p + 14, BYTES(0x34, 0x12), 2));
	CHECK(!memcmp(p + 24, BYTES(0x0e, 0x0d, 0x0c, 0x0b, 0x0a, 0, 0, 0), 8));
	CHECK(!memcmp(p + 36, BYTES(0xa4, 0xa3, 0xa2, 0xa1), 4));
	CHECK(!memcmp(p + 86, BYTES(0x03, 0x02, 0x09, 0x00), 4));
	CHECK(!memcmp(p + 108, BYTES(0, 0, 0, 0x01), 4));
	CHECK_EQ_U64(offsetof(struct erofs_super_block, rootnid_8b), 112);

	CHECK_EQ_U64(offsetof(struct erofs_deviceslot, blocks_hi), 72);
	CHECK_EQ_U64(offsetof(struct erofs_deviceslot, uniaddr_hi), 76);

	memset(&ic, 0, sizeof(ic));
	ic.i_format = lading_cpu_to_le16(EROFS_INODE_CHUNK_BASED << 1);
	ic.i_mode = lading_cpu_to_le16(S_IFREG | 0644);
	ic.i_nb.nlink = lading_cpu_to_le16(3);
	ic.i_size = lading_cpu_to_le32(0x00012345u);
	ic.i_u.c.format = lading_cpu_to_le16(EROFS_CHUNK_FORMAT_INDEXES | 8);
	ic.i_uid = lading_cpu_to_le16(1000);
	p = (const uint8_t *)&ic;
	CHECK(!memcmp(p, BYTES(0x08, 0x00, 0x00, 0x00, 0xa4, 0x81, 0x03, 0x00,
			       0x45, 0x23, 0x01, 0x00), 12));
	CHECK(!memcmp(p + 16, BYTES(0x28, 0x00, 0x00, 0x00), 4));
	CHECK(!memcmp(p + 24, BYTES(0xe8, 0x03), 2));

	memset(&ie, 0, sizeof(ie));
	ie.i_size = lading_cpu_to_le64(1ull << 40);
	ie.i_u.rdev = lading_cpu_to_le32(8u << 8 | 1u);	/* new_encode_dev(8:1) */
	ie.i_uid = lading_cpu_to_le32(70000);
	ie.i_mtime = lading_cpu_to_le64(0x0102030405ull);
	ie.i_mtime_nsec = lading_cpu_to_le32(999999999u);
	ie.i_nlink = lading_cpu_to_le32(2);
	p = (const uint8_t *)&ie;
	CHECK(!memcmp(p + 8, BYTES(0, 0, 0, 0, 0, 0x01, 0, 0), 8));
	CHECK(!memcmp(p + 16, BYTES(0x01, 0x08, 0, 0), 4));
	CHECK(!memcmp(p + 24, BYTES(0x70, 0x11, 0x01, 0x00), 4));
	CHECK(!memcmp(p + 32, BYTES(0x05, 0x04, 0x03, 0x02, 0x01, 0, 0, 0,
				    0xff, 0xc9, 0x9a, 0x3b, 0x02, 0, 0, 0), 16));

	memset(&de, 0, sizeof(de));
	de.nid = lading_cpu_to_le64(0x0102);
	de.nameoff = lading_cpu_to_le16(24);
	de.file_type = EROFS_FT_DIR;
	CHECK(!memcmp(&de, BYTES(0x02, 0x01, 0, 0, 0, 0, 0, 0, 24, 0, 2, 0), 12));
}

/* lading's own structures: blob table, ToC entry, footer. */
static void test_lading_layout(void)
{
	struct lading_blob_table_header h;
	struct lading_blob_record rec;
	struct lading_toc_entry e;
	struct lading_blob_footer f;
	const uint8_t *p;

	memset(&h, 0, sizeof(h));
	h.magic = lading_cpu_to_le64(LADING_BLOB_TABLE_MAGIC);
	h.version = lading_cpu_to_le32(LADING_BLOB_TABLE_VERSION);
	h.count = lading_cpu_to_le32(2);
	h.record_size = lading_cpu_to_le32(sizeof(rec));
	CHECK(!memcmp(&h, "LLDGBLT1\1\0\0\0\2\0\0\0\x80\0\0\0", 20));

	memset(&rec, 0, sizeof(rec));
	rec.artifact_size = lading_cpu_to_le64(0x0102030405ull);
	rec.chunk_size = lading_cpu_to_le32(1u << 20);
	rec.codec = LADING_CODEC_ZSTD;
	rec.toc_offset = lading_cpu_to_le64(0x1000);
	p = (const uint8_t *)&rec;
	CHECK(!memcmp(p + 32, BYTES(0x05, 0x04, 0x03, 0x02, 0x01, 0, 0, 0), 8));
	CHECK(!memcmp(p + 48, BYTES(0, 0, 0x10, 0, LADING_CODEC_ZSTD), 5));
	CHECK(!memcmp(p + 56, BYTES(0, 0x10, 0, 0), 4));
	CHECK_EQ_U64(offsetof(struct lading_blob_record, toc_digest), 72);

	memset(&e, 0, sizeof(e));
	e.uoff = lading_cpu_to_le64(0x2000);
	e.ulen = lading_cpu_to_le32(100);
	e.clen = lading_cpu_to_le32(0x0304);
	e.coff = lading_cpu_to_le64(0x0102030405060708ull);
	e.codec = LADING_CODEC_LZ4;
	CHECK(!memcmp(&e, BYTES(0, 0x20, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0,
				0x04, 0x03, 0, 0, 0x08, 0x07, 0x06, 0x05,
				0x04, 0x03, 0x02, 0x01, LADING_CODEC_LZ4), 25));
	CHECK_EQ_U64(offsetof(struct lading_toc_entry, digest), 32);

	memset(&f, 0, sizeof(f));
	f.magic = lading_cpu_to_le64(LADING_TOC_MAGIC);
	f.version = lading_cpu_to_le32(LADING_TOC_VERSION);
	f.codec = lading_cpu_to_le32(LADING_CODEC_DEFLATE);
	f.entries = lading_cpu_to_le32(3);
	CHECK(!memcmp(&f, "LLDGTOC1\1\0\0\0\2\0\0\0", 16));
	CHECK(!memcmp((const uint8_t *)&f + 44, BYTES(3, 0, 0, 0), 4));
}

#ifndef LADING_ONDISK_ONLY
/* An image lading wrote: its superblock and slot as bytes. */
static int write_image(uint8_t *img, size_t cap, size_t *len)
{
	struct lading_tree *t = lading_tree_new();
	struct lading_image_slot slot = { .blocks = 0x0000000500000003ull };
	struct lading_bootstrap_params prm = { .chunk_size = 4096, .slots = &slot,
					   .nslots = 1 };
	struct lading_bootstrap_stats st;
	struct lading_error err = { 0 };
	int fd = memfd_create("img", 0), ret;
	ssize_t n;

	memset(slot.tag, 'a', 64);
	ret = lading_bootstrap_write(t, &prm, fd, &st, &err);
	n = pread(fd, img, cap, 0);
	*len = n > 0 ? (size_t)n : 0;
	lading_tree_free(t);
	close(fd);
	return ret;
}

static void test_written_image(void)
{
	static uint8_t img[65536], poked[65536];
	struct lading_reader *r;
	struct lading_error err = { 0 };
	size_t len;

	CHECK(!write_image(img, sizeof(img), &len));
	CHECK(len >= LADING_BLOCK_SIZE);
	CHECK(!memcmp(img + 1024, BYTES(0xe2, 0xe1, 0xf5, 0xe0), 4));
	CHECK(!memcmp(img + 1024 + 86, BYTES(1, 0, 9, 0), 4));
	/* slot 1 at 1152: blocks_lo 3, blocks_hi 5 (the kernel's 48 bits) */
	CHECK(!memcmp(img + 1152 + 64, BYTES(3, 0, 0, 0, 0, 0, 0, 0,
					     5, 0, 0, 0, 0, 0), 14));
	CHECK(!lading_reader_open_mem(&r, img, len, &err));
	if (r) {
		CHECK_EQ_U64(lading_reader_slot(r, 1)->blocks,
			     0x0000000500000003ull);
		lading_reader_close(r);
	}

	/* the kernel's uniaddr_hi (offset 76): unified addressing, refused */
	memcpy(poked, img, len);
	poked[1152 + 76] = 1;
	erofs_superblock_set_checksum(poked);
	lading_error_clear(&err);
	CHECK(lading_reader_open_mem(&r, poked, len, &err) == -EUCLEAN);
	CHECK(strstr(err.msg, "device slot 1 uses unified addressing") != NULL);

	/* blocks_hi bits the kernel does not read: refused, not guessed */
	memcpy(poked, img, len);
	poked[1152 + 74] = 1;
	erofs_superblock_set_checksum(poked);
	lading_error_clear(&err);
	CHECK(lading_reader_open_mem(&r, poked, len, &err) == -EUCLEAN);
	CHECK(strstr(err.msg, "device slot 1") != NULL);
}

#endif

int main(void)
{
	test_accessors();
	test_erofs_layout();
	test_lading_layout();
#ifndef LADING_ONDISK_ONLY
	test_written_image();
#endif
	return check_summary("ondisk_test");
}
