/* SPDX-License-Identifier: MIT */
/*
 * Everything lading puts on disk, and nothing else: the EROFS structures
 * (the subset lading writes and reads, laid out and named as in the
 * kernel's fs/erofs/erofs_fs.h), lading's blob table in the bootstrap, and
 * a blob artifact's ToC entries and footer.  Includes no other lading
 * header, so every module can use it.
 *
 * Multi-byte fields are little-endian byte arrays (lading_le16/32/64):
 * the compiler refuses a field used as a host integer, and the accessors
 * below assemble values byte by byte, so the same code is right on a host
 * of either byte order.  Every struct has alignment 1 and no padding:
 * it may be read from any offset of a buffer.
 */
#ifndef LADING_ONDISK_H
#define LADING_ONDISK_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- little-endian fields -------------------------------------------- */

typedef struct { uint8_t b[2]; } lading_le16;
typedef struct { uint8_t b[4]; } lading_le32;
typedef struct { uint8_t b[8]; } lading_le64;
static_assert(sizeof(lading_le16) == 2 && _Alignof(lading_le16) == 1, "le16");
static_assert(sizeof(lading_le32) == 4 && _Alignof(lading_le32) == 1, "le32");
static_assert(sizeof(lading_le64) == 8 && _Alignof(lading_le64) == 1, "le64");

static inline uint16_t lading_le16_to_cpu(lading_le16 x)
{
	return (uint16_t)(x.b[0] | (uint16_t)x.b[1] << 8);
}

static inline uint32_t lading_le32_to_cpu(lading_le32 x)
{
	return (uint32_t)x.b[0] | (uint32_t)x.b[1] << 8 |
	       (uint32_t)x.b[2] << 16 | (uint32_t)x.b[3] << 24;
}

static inline uint64_t lading_le64_to_cpu(lading_le64 x)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | x.b[i];
	return v;
}

static inline lading_le16 lading_cpu_to_le16(uint16_t v)
{
	lading_le16 x = { { (uint8_t)v, (uint8_t)(v >> 8) } };

	return x;
}

static inline lading_le32 lading_cpu_to_le32(uint32_t v)
{
	lading_le32 x = { { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			    (uint8_t)(v >> 24) } };

	return x;
}

static inline lading_le64 lading_cpu_to_le64(uint64_t v)
{
	lading_le64 x;
	int i;

	for (i = 0; i < 8; i++)
		x.b[i] = (uint8_t)(v >> (8 * i));
	return x;
}

/* The same for a field at p, e.g. one entry of an on-disk u32 array. */
static inline uint32_t lading_get_le32(const void *p)
{
	lading_le32 x;

	memcpy(&x, p, sizeof(x));
	return lading_le32_to_cpu(x);
}

static inline uint16_t lading_get_le16(const void *p)
{
	lading_le16 x;

	memcpy(&x, p, sizeof(x));
	return lading_le16_to_cpu(x);
}

/* ---- EROFS ------------------------------------------------------------ */

#define EROFS_SUPER_MAGIC 0xE0F5E1E2u
#define EROFS_SUPER_OFFSET 1024u

#define EROFS_COMPAT_SB_CHKSUM 0x1u
#define EROFS_COMPAT_MTIME 0x2u
#define EROFS_INCOMPAT_CHUNKED_FILE 0x4u
#define EROFS_INCOMPAT_DEVICE_TABLE 0x8u

#define EROFS_INODE_FLAT_PLAIN 0
#define EROFS_INODE_FLAT_INLINE 2
#define EROFS_INODE_CHUNK_BASED 4

#define EROFS_CHUNK_FORMAT_BLKBITS_MASK 0x1fu
#define EROFS_CHUNK_FORMAT_INDEXES 0x20u

#define EROFS_NULL_ADDR 0xffffffffu
#define EROFS_NAME_LEN 255u
#define EROFS_DEVT_SLOT_SIZE 128u

enum erofs_file_type {
	EROFS_FT_UNKNOWN = 0,
	EROFS_FT_REG_FILE = 1,
	EROFS_FT_DIR = 2,
	EROFS_FT_CHRDEV = 3,
	EROFS_FT_BLKDEV = 4,
	EROFS_FT_FIFO = 5,
	EROFS_FT_SOCK = 6,
	EROFS_FT_SYMLINK = 7,
};

enum erofs_xattr_index {
	EROFS_XATTR_INDEX_USER = 1,
	EROFS_XATTR_INDEX_POSIX_ACL_ACCESS = 2,
	EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT = 3,
	EROFS_XATTR_INDEX_TRUSTED = 4,
	EROFS_XATTR_INDEX_SECURITY = 6,
};

/*
 * The base superblock (sb_extslots = 0, as lading writes it: 128 bytes).
 * The kernel's struct goes on with metabox_nid and reserved3 in extension
 * slot 1, which lading neither writes nor reads.
 */
struct erofs_super_block {
	lading_le32 magic;
	lading_le32 checksum;
	lading_le32 feature_compat;
	uint8_t blkszbits;
	uint8_t sb_extslots;
	union {
		lading_le16 rootnid_2b;	/* nid of the root directory */
		lading_le16 blocks_hi;	/* (48BIT on) blocks count MSB */
	} rb;
	lading_le64 inos;
	lading_le64 epoch;		/* base seconds of compact inodes */
	lading_le32 fixed_nsec;		/* their nanoseconds */
	lading_le32 blocks_lo;
	lading_le32 meta_blkaddr;
	lading_le32 xattr_blkaddr;
	uint8_t uuid[16];
	uint8_t volume_name[16];
	lading_le32 feature_incompat;
	union {
		lading_le16 available_compr_algs;
		lading_le16 lz4_max_distance;
	} u1;
	lading_le16 extra_devices;
	lading_le16 devt_slotoff;	/* device table at devt_slotoff * 128 */
	uint8_t dirblkbits;
	uint8_t xattr_prefix_count;
	lading_le32 xattr_prefix_start;
	lading_le64 packed_nid;
	uint8_t xattr_filter_reserved;
	uint8_t reserved[3];
	lading_le32 build_time;		/* seconds after epoch of the build */
	lading_le64 rootnid_8b;		/* (48BIT on) nid of the root */
	lading_le64 reserved2;
};
static_assert(sizeof(struct erofs_super_block) == 128, "erofs superblock");

struct erofs_deviceslot {
	uint8_t tag[64];		/* lading: the blob id, hex */
	lading_le32 blocks_lo;
	lading_le32 uniaddr_lo;
	lading_le32 blocks_hi;		/* the kernel reads its low 16 bits */
	lading_le16 uniaddr_hi;
	uint8_t reserved[50];
};
static_assert(sizeof(struct erofs_deviceslot) == EROFS_DEVT_SLOT_SIZE,
	      "erofs device slot");

struct erofs_inode_chunk_info {
	lading_le16 format;		/* chunk blkbits, EROFS_CHUNK_FORMAT_* */
	lading_le16 reserved;
};
static_assert(sizeof(struct erofs_inode_chunk_info) == 4, "chunk info");

union erofs_inode_i_u {
	lading_le32 blocks_lo;		/* compressed inodes */
	lading_le32 startblk_lo;	/* flat inodes */
	lading_le32 rdev;		/* device inodes */
	struct erofs_inode_chunk_info c;	/* chunk-based inodes */
};
static_assert(sizeof(union erofs_inode_i_u) == 4, "inode i_u");

union erofs_inode_i_nb {
	lading_le16 nlink;		/* compact, unless EROFS_I_NLINK_1_BIT */
	lading_le16 blocks_hi;
	lading_le16 startblk_hi;
};
static_assert(sizeof(union erofs_inode_i_nb) == 2, "inode i_nb");

struct erofs_inode_compact {
	lading_le16 i_format;
	lading_le16 i_xattr_icount;
	lading_le16 i_mode;
	union erofs_inode_i_nb i_nb;
	lading_le32 i_size;
	lading_le32 i_mtime;		/* seconds after the superblock epoch */
	union erofs_inode_i_u i_u;
	lading_le32 i_ino;
	lading_le16 i_uid;
	lading_le16 i_gid;
	lading_le32 i_reserved;
};
static_assert(sizeof(struct erofs_inode_compact) == 32, "compact inode");

struct erofs_inode_extended {
	lading_le16 i_format;
	lading_le16 i_xattr_icount;
	lading_le16 i_mode;
	union erofs_inode_i_nb i_nb;	/* unused without the 48-bit layout */
	lading_le64 i_size;
	union erofs_inode_i_u i_u;
	lading_le32 i_ino;
	lading_le32 i_uid;
	lading_le32 i_gid;
	lading_le64 i_mtime;
	lading_le32 i_mtime_nsec;
	lading_le32 i_nlink;
	uint8_t i_reserved2[16];
};
static_assert(sizeof(struct erofs_inode_extended) == 64, "extended inode");

struct erofs_xattr_ibody_header {
	lading_le32 h_name_filter;
	uint8_t h_shared_count;
	uint8_t h_reserved2[7];
	/* followed by h_shared_count le32 shared xattr ids */
};
static_assert(sizeof(struct erofs_xattr_ibody_header) == 12, "xattr header");

struct erofs_xattr_entry {
	uint8_t e_name_len;
	uint8_t e_name_index;
	lading_le16 e_value_size;
	/* followed by the name suffix and the value */
};
static_assert(sizeof(struct erofs_xattr_entry) == 4, "xattr entry");

struct erofs_inode_chunk_index {
	lading_le16 startblk_hi;
	lading_le16 device_id;
	lading_le32 startblk_lo;
};
static_assert(sizeof(struct erofs_inode_chunk_index) == 8, "chunk index");

struct erofs_dirent {
	lading_le64 nid;
	lading_le16 nameoff;
	uint8_t file_type;
	uint8_t reserved;
};
static_assert(sizeof(struct erofs_dirent) == 12, "dirent");

/*
 * The order of dirents in a directory block (bytewise, a prefix first):
 * the kernel's lookup bisects on it, and tree sorting follows it.
 */
static inline int erofs_name_cmp(const char *a, size_t alen, const char *b,
				 size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* ---- lading's blob table (in the bootstrap) ------------------------- */

/*
 * Right after the device table, in blocks the kernel never reads (before
 * meta_blkaddr), one lading_blob_record per slot.  Guarded by its own
 * magic and a CRC32C over header (crc zeroed) and records, and covered by
 * the superblock checksum when it sits in block 0.
 */
#define LADING_BLOB_TABLE_MAGIC 0x31544c4247444c4cull	/* "LLDGBLT1" */
#define LADING_BLOB_TABLE_VERSION 1

struct lading_blob_table_header {
	lading_le64 magic;
	lading_le32 version;
	lading_le32 count;		/* = extra_devices */
	lading_le32 record_size;	/* sizeof(struct lading_blob_record) */
	lading_le32 crc;
	uint8_t reserved[8];
};
static_assert(sizeof(struct lading_blob_table_header) == 32, "blob table header");

/*
 * What the bootstrap records about each blob (one record per device
 * slot): enough to fetch and verify any chunk of it.
 */
struct lading_blob_record {
	uint8_t id[32];			/* sha256 of the artifact = slot tag */
	lading_le64 artifact_size;
	lading_le64 uncompressed_size;	/* = slot blocks * 4096 */
	lading_le32 chunk_size;
	uint8_t codec;			/* enum lading_codec */
	uint8_t reserved[3];
	lading_le64 toc_offset;
	lading_le64 toc_size;
	uint8_t toc_digest[32];		/* sha256 of the ToC bytes */
	uint8_t reserved2[24];
};
static_assert(sizeof(struct lading_blob_record) == 128, "blob record");

/* ---- blob artifacts ---------------------------------------------------- */

/*
 * A blob artifact is: chunk data (the uncompressed view itself for codec
 * "none", else independently compressed chunks back to back), then the
 * ToC (one entry per stored chunk, sorted by uncompressed offset), then a
 * fixed footer at the very end.
 */
enum lading_codec {
	LADING_CODEC_NONE = 0,
	LADING_CODEC_LZ4 = 1,
	LADING_CODEC_DEFLATE = 2,	/* raw deflate, zlib */
	LADING_CODEC_LZMA = 3,		/* .xz stream, no check, liblzma */
	LADING_CODEC_ZSTD = 4,		/* one frame, when built with libzstd */
	/*
	 * Blob table only: the blob is a gzip layer kept as it is, its
	 * uncompressed view the layer's tar stream (512-byte blocks); its
	 * "ToC" is the layer's seek index, a separate artifact of toc_size
	 * bytes with sha256 toc_digest (toc_offset 0).
	 */
	LADING_CODEC_GZIP_INDEXED = 5,
};

#define LADING_TOC_MAGIC 0x31434f5447444c4cull	/* "LLDGTOC1" */
#define LADING_TOC_VERSION 1

struct lading_toc_entry {
	lading_le64 uoff;	/* offset in the uncompressed view (4K aligned) */
	lading_le32 ulen;	/* chunk bytes; zeros follow up to 4 KiB */
	lading_le32 clen;	/* stored bytes in the artifact */
	lading_le64 coff;	/* offset of the stored bytes in the artifact */
	uint8_t codec;		/* enum lading_codec of this chunk */
	uint8_t reserved[7];
	uint8_t digest[32];	/* sha256 of the ulen bytes */
};
static_assert(sizeof(struct lading_toc_entry) == 64, "ToC entry");

struct lading_blob_footer {
	lading_le64 magic;
	lading_le32 version;
	lading_le32 codec;	/* the blob's codec (chunks may be stored raw) */
	lading_le64 toc_offset;
	lading_le64 toc_size;
	lading_le64 uncompressed_size;
	lading_le32 chunk_size;
	lading_le32 entries;
	uint8_t reserved[16];
};
static_assert(sizeof(struct lading_blob_footer) == 64, "blob footer");


/* ---- seek index of a gzip layer ------------------------------------- */

/*
 * Random access into a gzip layer kept as it is (lading-convert
 * --keep-layers): the uncompressed tar stream is cut into spans at deflate
 * block boundaries (or gzip member starts), and each span can be inflated
 * alone from its checkpoint: the compressed bit position and the 32 KiB
 * of output before it (the window, raw deflate inside the index).  Each
 * span's sha256 is the check; gzip's CRC covers only whole members.
 *
 *   [header][point * count][windows]
 *
 * The index is one artifact, anchored by its sha256 in the bootstrap.
 */
#define LADING_ZRAN_MAGIC 0x314e525a47444c4cull	/* "LLDGZRN1" */
#define LADING_ZRAN_VERSION 1
#define LADING_ZRAN_WINDOW 32768u

enum lading_zran_kind {
	LADING_ZRAN_MEMBER = 0,	/* coff is a gzip member header, no window */
	LADING_ZRAN_BLOCK = 1,	/* coff/bits is a deflate block boundary */
};

struct lading_zran_header {
	lading_le64 magic;
	lading_le32 version;
	lading_le32 flags;		/* 0 */
	lading_le32 span_size;		/* nominal uncompressed span */
	lading_le32 count;		/* points = spans */
	lading_le64 uncompressed_size;	/* the tar stream (diff_id content) */
	lading_le64 compressed_size;	/* the gzip layer blob */
	lading_le64 windows_size;	/* bytes after the points */
	uint8_t blob_digest[32];	/* sha256 of the gzip blob */
	uint8_t diff_id[32];		/* sha256 of the tar stream */
	uint8_t reserved[16];
};
static_assert(sizeof(struct lading_zran_header) == 128, "zran header");

/*
 * Span i is [uoff, uoff + ulen) of the tar stream; its compressed bytes
 * are [coff - (bits ? 1 : 0), next point's coff) of the blob (the blob's
 * end for the last span).  bits (0..7) are the high bits of byte coff - 1
 * that begin the span's first block (zlib's inflatePrime).
 */
struct lading_zran_point {
	lading_le64 uoff;
	lading_le64 coff;
	lading_le64 window_off;		/* in the windows area */
	lading_le32 ulen;
	lading_le32 window_clen;	/* raw deflate bytes of the window */
	lading_le16 window_len;		/* its length (<= 32 KiB, 0: none) */
	uint8_t bits;
	uint8_t kind;			/* enum lading_zran_kind */
	uint8_t reserved[4];
	uint8_t digest[32];		/* sha256 of the span's ulen bytes */
};
static_assert(sizeof(struct lading_zran_point) == 72, "zran point");

#endif
