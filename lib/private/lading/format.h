/* SPDX-License-Identifier: MIT */
/*
 * EROFS encoders, the bootstrap writer and the bounds-checked reader.
 * The structures they write and read are in lading/ondisk.h.
 */
#ifndef LADING_FORMAT_H
#define LADING_FORMAT_H

#include <lading/types.h>
#include <lading/util.h>
#include <lading/ondisk.h>

/* ---- encoders (pure functions, unit-tested) --------------------------- */

/* CRC32C (Castagnoli), reflected, no final xor; crc is the running value. */
uint32_t lading_crc32c(uint32_t crc, const void *data, size_t len);

/* Stores the superblock checksum over [1024, 4096) of block 0 in place. */
void erofs_superblock_set_checksum(uint8_t *block0);
/* The same for an image of blksz-byte blocks (512 .. 4096). */
void erofs_superblock_set_checksum_bs(uint8_t *block0, uint32_t blksz);

/* The kernel's new_encode_dev / new_decode_dev. */
uint32_t erofs_encode_dev(uint32_t major, uint32_t minor);
void erofs_decode_dev(uint32_t dev, uint32_t *major, uint32_t *minor);

/* File type for a dirent from an st_mode. */
enum erofs_file_type erofs_file_type_of(uint32_t mode);

/*
 * Splits a full xattr name into its EROFS index and the stored suffix.
 * Returns 0, or -EOPNOTSUPP for names EROFS cannot store without long
 * prefixes.
 */
int erofs_xattr_split_name(const char *name, uint8_t *index,
			   const char **suffix);
/* Inverse: "user." etc. for an index, NULL if unknown. */
const char *erofs_xattr_prefix(uint8_t index);

/* Encodes one chunk index; hole when blkaddr == EROFS_NULL_ADDR. */
void erofs_chunk_index_encode(struct erofs_inode_chunk_index *idx,
			      uint16_t device_id, uint32_t blkaddr);

/* Dirent-block packing: one name entry of a directory. */
struct erofs_dirent_in {
	const char *name;
	uint16_t namelen;
	uint8_t file_type;
	uint64_t nid;
};

/*
 * Number of dirents (from 'first') that fit in one directory block, and the
 * bytes they use.  Entries must already be sorted.
 */
size_t erofs_dirblock_fit(const struct erofs_dirent_in *ents, size_t count,
			  size_t *used);
/* Writes one directory block (zero-padded to blksize) from ents[0..n). */
void erofs_dirblock_encode(uint8_t *blk, const struct erofs_dirent_in *ents,
			   size_t n);
/* The same two for directory blocks of blksz bytes (4096: the above). */
size_t erofs_dirblock_fit_bs(const struct erofs_dirent_in *ents, size_t count,
			     size_t *used, uint32_t blksz);
void erofs_dirblock_encode_bs(uint8_t *blk, const struct erofs_dirent_in *ents,
			      size_t n, uint32_t blksz);

/* ---- bootstrap writer ------------------------------------------------ */

struct lading_tree;

struct lading_image_slot {
	char tag[LADING_DIGEST_HEX_LEN + 1];	/* blob id, lowercase hex */
	uint64_t blocks;	/* uncompressed size in the image's blocks */
};

struct lading_bootstrap_params {
	uint32_t chunk_size;		/* power of two >= the block size */
	/*
	 * log2 of the block size: 0 or 12 (4 KiB), or 9 for 512-byte blocks
	 * (file data addressed in place inside tar streams); chunk block
	 * addresses are in these blocks
	 */
	uint8_t blkszbits;
	bool keep_nsec;			/* extended inodes for nsec mtimes */
	bool uuid_set;			/* else derived from the content */
	uint8_t uuid[16];
	char volume_name[16];		/* not NUL-terminated when full */
	const struct lading_image_slot *slots;
	uint16_t nslots;
	/* per slot, written as lading's blob table; NULL: no table */
	const struct lading_blob_record *records;
};


/*
 * Lays the tree out and writes a complete EROFS image to fd (from offset
 * 0).  Sorts directories and computes link counts as a side effect.
 */
int lading_bootstrap_write(struct lading_tree *tree,
		       const struct lading_bootstrap_params *params, int fd,
		       struct lading_bootstrap_stats *stats,
		       struct lading_error *err);

/* ---- bounds-checked reader ------------------------------------------ */

/*
 * The one hardened EROFS reader of liblading (verify, prepare and fill
 * parse bootstraps with it).  Every on-disk value is checked before use;
 * errors name the nid (and the path, when walking) and the rule broken.
 */
struct lading_reader;

struct lading_rinode {
	uint64_t nid;
	uint64_t pos;		/* byte offset of the inode */
	uint32_t mode, uid, gid, nlink;
	uint64_t size;
	int64_t mtime;
	uint32_t mtime_nsec;
	uint32_t rdev_major, rdev_minor;
	uint8_t layout;		/* EROFS_INODE_* */
	bool extended;
	uint16_t isize;
	uint32_t xattr_size;
	uint32_t raw_blkaddr;	/* flat layouts */
	uint64_t inline_pos;	/* flat inline: where the tail starts */
	uint32_t inline_len;
	uint8_t chunk_bits;	/* chunk based: log2 of the chunk size */
	uint8_t index_unit;	/* 8 (indexes) or 4 (block map) */
	uint64_t index_pos;
	uint64_t nchunks;
};

struct lading_rchunk {
	bool hole;
	uint16_t device_id;	/* 0: the bootstrap itself */
	uint64_t blkaddr;
	uint64_t offset;	/* file offset of the chunk */
	uint64_t length;	/* file bytes in this chunk */
};

struct lading_rslot {
	char tag[LADING_DIGEST_HEX_LEN + 1];	/* NUL-trimmed */
	uint64_t blocks;
};

/* Takes a copy of the image; validates the superblock. */
int lading_reader_open_mem(struct lading_reader **out, const void *img,
			   size_t len, struct lading_error *err);
/* Reads a bootstrap file (at most 4 GiB) and opens it. */
int lading_reader_open_file(struct lading_reader **out, const char *path,
			    struct lading_error *err);
void lading_reader_close(struct lading_reader *r);

const struct erofs_super_block *lading_reader_super(const struct lading_reader *r);
uint16_t lading_reader_nslots(const struct lading_reader *r);
/*
 * log2 of the block size: 12, or 9 for images addressing tar streams in
 * place; chunk block addresses and slot sizes are in these blocks.
 */
uint8_t lading_reader_blkszbits(const struct lading_reader *r);
const struct lading_rslot *lading_reader_slot(const struct lading_reader *r,
					      uint16_t device_id);
const uint8_t *lading_reader_image(const struct lading_reader *r, size_t *len);
/* The device id (1-based slot) whose tag is blob_id, or 0 if none. */
uint16_t lading_reader_find_blob(const struct lading_reader *r,
				 const char *blob_id);
/* The blob table record of a slot; NULL when the image has no blob table. */
const struct lading_blob_record *lading_reader_blob_record(
	const struct lading_reader *r, uint16_t device_id);

int lading_reader_inode(struct lading_reader *r, uint64_t nid,
			struct lading_rinode *ino, struct lading_error *err);

/* Calls fn for each xattr (full name, value); stops on non-zero. */
typedef int (*lading_xattr_fn)(void *ud, const char *name, const void *value,
			       size_t len);
int lading_reader_xattrs(struct lading_reader *r, const struct lading_rinode *ino,
			 lading_xattr_fn fn, void *ud, struct lading_error *err);

/* Reads bytes of a flat (plain/inline) inode: directories, symlinks, ... */
int lading_reader_read_flat(struct lading_reader *r,
			    const struct lading_rinode *ino, uint64_t off,
			    void *buf, size_t len, struct lading_error *err);
/* The chunk covering chunk index i of a chunk-based inode, range-checked. */
int lading_reader_chunk(struct lading_reader *r, const struct lading_rinode *ino,
			uint64_t i, struct lading_rchunk *c,
			struct lading_error *err);
/* Reads a symlink target (NUL-terminated; buf holds 4096 bytes). */
int lading_reader_symlink(struct lading_reader *r, const struct lading_rinode *ino,
			  char *buf, struct lading_error *err);

/* One directory entry as the walk reports it. */
struct lading_rentry {
	const char *path;	/* "" for the root, else "a/b" */
	const char *name;
	size_t namelen;
	uint8_t file_type;
	const struct lading_rinode *inode;
	const struct lading_rinode *parent;	/* NULL for the root */
	bool first_link;	/* first name seen for a non-directory nid */
};

typedef int (*lading_walk_fn)(void *ud, const struct lading_rentry *e);

/*
 * Depth-first walk from the root, in dirent order, validating every
 * directory block, dirent, "." and "..", loops and finally link counts.
 * fn may return a positive value to stop without error.
 */
int lading_reader_walk(struct lading_reader *r, lading_walk_fn fn, void *ud,
		       struct lading_error *err);

#endif
