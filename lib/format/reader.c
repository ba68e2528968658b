// SPDX-License-Identifier: MIT
/*
 * Bounds-checked EROFS reader.  The whole bootstrap lives in memory (it is
 * metadata only); every offset is checked against its length with
 * overflow-safe helpers before any byte is touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lading/format.h>

#define KNOWN_INCOMPAT (EROFS_INCOMPAT_CHUNKED_FILE | EROFS_INCOMPAT_DEVICE_TABLE)
#define I_FORMAT_KNOWN 0x1fu		/* version, layout, nlink-1 bit */
#define I_NLINK_1_BIT 0x10u
#define MAX_BOOTSTRAP (4ull << 30)
#define MAX_CHUNK_BITS 31u
#define NSEC_PER_SEC 1000000000u

struct lading_reader {
	uint8_t *img;
	size_t len;
	struct erofs_super_block sb;	/* as on disk */
	/* the superblock fields used after check_super(), host order */
	uint64_t epoch;
	uint32_t fixed_nsec;
	uint32_t xattr_blkaddr;
	uint16_t root_nid;
	uint16_t devt_slotoff;
	uint64_t meta_base;
	uint64_t blocks;
	uint16_t nslots;
	uint16_t device_mask;
	struct lading_rslot *slots;
	const struct lading_blob_record *records;	/* into img; or NULL */
	uint32_t bsize;		/* block size: 4096, or 512 (tar streams in place) */
	uint8_t bits;
};

/* ceil(x / unit) without the overflow of (x + unit - 1) for hostile sizes */
static uint64_t div_up(uint64_t x, uint64_t unit)
{
	return x / unit + (x % unit != 0);
}

/* true when [off, off + n) lies inside the image */
static bool in_image(const struct lading_reader *r, uint64_t off, uint64_t n)
{
	return off <= r->len && n <= r->len - off;
}

static int corrupt(struct lading_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int corrupt(struct lading_error *err, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return lading_error_set(err, EUCLEAN, "%s", msg);
}

static int check_super(struct lading_reader *r, struct lading_error *err)
{
	struct erofs_super_block *sb = &r->sb;
	uint32_t magic, compat, incompat, unknown, meta_blkaddr;

	/* the superblock sits at 1024 whatever the block size */
	if (r->len < EROFS_SUPER_OFFSET + 512)
		return corrupt(err, "image shorter than its superblock (%zu bytes)",
			       r->len);
	memcpy(sb, r->img + EROFS_SUPER_OFFSET, sizeof(*sb));
	magic = lading_le32_to_cpu(sb->magic);
	if (magic != EROFS_SUPER_MAGIC)
		return corrupt(err, "bad superblock magic 0x%08x", magic);
	if (sb->blkszbits != LADING_BLOCK_BITS && sb->blkszbits != 9)
		return corrupt(err, "block size 2^%u, only 4096 and 512 are "
			       "supported", sb->blkszbits);
	r->bits = sb->blkszbits;
	r->bsize = 1u << r->bits;
	if (r->len < r->bsize)
		return corrupt(err, "image shorter than one block (%zu bytes)",
			       r->len);
	compat = lading_le32_to_cpu(sb->feature_compat);
	if (compat & EROFS_COMPAT_SB_CHKSUM) {
		/* from 1024: the rest of block 0, or one 512-byte block */
		uint32_t n = r->bsize > EROFS_SUPER_OFFSET ?
			     r->bsize - EROFS_SUPER_OFFSET : r->bsize;
		uint8_t blk[r->bsize];
		uint32_t crc, stored = lading_le32_to_cpu(sb->checksum);

		memcpy(blk, r->img + EROFS_SUPER_OFFSET, n);
		memset(blk + 4, 0, 4);
		crc = lading_crc32c(~0u, blk, n);
		if (crc != stored)
			return corrupt(err, "superblock checksum mismatch "
				       "(stored 0x%08x, computed 0x%08x)",
				       stored, crc);
	}
	incompat = lading_le32_to_cpu(sb->feature_incompat);
	unknown = incompat & ~KNOWN_INCOMPAT;
	if (unknown)
		return corrupt(err, "unsupported incompatible features 0x%x",
			       unknown);
	r->epoch = lading_le64_to_cpu(sb->epoch);
	r->fixed_nsec = lading_le32_to_cpu(sb->fixed_nsec);
	r->xattr_blkaddr = lading_le32_to_cpu(sb->xattr_blkaddr);
	r->root_nid = lading_le16_to_cpu(sb->rb.rootnid_2b);
	r->devt_slotoff = lading_le16_to_cpu(sb->devt_slotoff);
	meta_blkaddr = lading_le32_to_cpu(sb->meta_blkaddr);
	/* compact mtimes are epoch + u32: keep that sum representable */
	if (r->epoch > (uint64_t)INT64_MAX - UINT32_MAX)
		return corrupt(err, "superblock epoch %llu out of range",
			       (unsigned long long)r->epoch);
	/* the mtime nanoseconds of every compact inode: futimens takes < 1e9 */
	if (r->fixed_nsec >= NSEC_PER_SEC)
		return corrupt(err, "superblock build_time_nsec %u is not below "
			       "10^9", r->fixed_nsec);
	r->blocks = lading_le32_to_cpu(sb->blocks_lo);
	if (r->blocks * r->bsize > r->len)
		return corrupt(err, "image truncated: superblock says %llu blocks, "
			       "file has %zu bytes",
			       (unsigned long long)r->blocks, r->len);
	if (meta_blkaddr >= r->blocks)
		return corrupt(err, "meta_blkaddr %u outside the image",
			       meta_blkaddr);
	if (r->xattr_blkaddr >= r->blocks && r->xattr_blkaddr)
		return corrupt(err, "xattr_blkaddr %u outside the image",
			       r->xattr_blkaddr);
	r->meta_base = (uint64_t)meta_blkaddr * r->bsize;
	/* the reader only trusts what the superblock block count covers */
	r->len = (size_t)(r->blocks * r->bsize);
	return 0;
}

static int load_slots(struct lading_reader *r, struct lading_error *err)
{
	const struct erofs_super_block *sb = &r->sb;
	uint16_t extra = lading_le16_to_cpu(sb->extra_devices);
	uint64_t off;
	uint32_t mask = 1;
	uint16_t i;

	if (!(lading_le32_to_cpu(sb->feature_incompat) &
	      EROFS_INCOMPAT_DEVICE_TABLE)) {
		if (extra)
			return corrupt(err, "extra_devices %u without a device table",
				       extra);
		r->device_mask = 0;
		return 0;
	}
	off = (uint64_t)r->devt_slotoff * EROFS_DEVT_SLOT_SIZE;
	if (off < EROFS_SUPER_OFFSET + sizeof(*sb) ||
	    !in_image(r, off, (uint64_t)extra * EROFS_DEVT_SLOT_SIZE) ||
	    off + (uint64_t)extra * EROFS_DEVT_SLOT_SIZE > r->meta_base)
		return corrupt(err, "device table (slot offset %u, %u slots) "
			       "overlaps the superblock or leaves the image",
			       r->devt_slotoff, extra);
	r->nslots = extra;
	r->slots = calloc(r->nslots ? r->nslots : 1, sizeof(*r->slots));
	if (!r->slots)
		return -ENOMEM;
	for (i = 0; i < r->nslots; i++) {
		struct erofs_deviceslot ds;
		uint32_t blocks_hi;

		memcpy(&ds, r->img + off + (uint64_t)i * sizeof(ds), sizeof(ds));
		memcpy(r->slots[i].tag, ds.tag, sizeof(ds.tag));
		r->slots[i].tag[LADING_DIGEST_HEX_LEN] = '\0';
		/* the kernel takes 16 bits of blocks_hi (48-bit block counts) */
		blocks_hi = lading_le32_to_cpu(ds.blocks_hi);
		r->slots[i].blocks = lading_le32_to_cpu(ds.blocks_lo) |
				     (uint64_t)(blocks_hi & 0xffff) << 32;
		if (lading_le32_to_cpu(ds.uniaddr_lo) ||
		    lading_le16_to_cpu(ds.uniaddr_hi))
			return corrupt(err, "device slot %u uses unified addressing, "
				       "which lading does not read", i + 1);
		if (blocks_hi >> 16)
			return corrupt(err, "device slot %u: blocks_hi 0x%x has "
				       "bits the kernel ignores", i + 1, blocks_hi);
	}
	/* the kernel masks device ids with roundup_pow_of_two(n + 1) - 1 */
	while (mask < (uint32_t)r->nslots + 1)
		mask <<= 1;
	r->device_mask = (uint16_t)(mask - 1);
	return 0;
}

/* lading's blob table, if present right after the device table. */
static int load_blob_table(struct lading_reader *r, struct lading_error *err)
{
	struct lading_blob_table_header h;
	uint64_t off = (uint64_t)r->devt_slotoff * EROFS_DEVT_SLOT_SIZE +
		       (uint64_t)r->nslots * EROFS_DEVT_SLOT_SIZE;
	uint64_t size = sizeof(h) + (uint64_t)r->nslots *
					    sizeof(struct lading_blob_record);
	uint32_t crc, version, count, record_size;
	uint16_t i;

	if (!r->nslots || !in_image(r, off, sizeof(h)))
		return 0;
	memcpy(&h, r->img + off, sizeof(h));
	if (lading_le64_to_cpu(h.magic) != LADING_BLOB_TABLE_MAGIC)
		return 0;	/* a plain EROFS image: no blob table */
	version = lading_le32_to_cpu(h.version);
	count = lading_le32_to_cpu(h.count);
	record_size = lading_le32_to_cpu(h.record_size);
	if (version != LADING_BLOB_TABLE_VERSION || count != r->nslots ||
	    record_size != sizeof(struct lading_blob_record) ||
	    off + size > r->meta_base)
		return corrupt(err, "blob table header inconsistent (version %u, "
			       "%u records of %u bytes for %u slots)", version,
			       count, record_size, r->nslots);
	crc = lading_le32_to_cpu(h.crc);
	h.crc = lading_cpu_to_le32(0);
	{
		uint8_t *tmp = malloc((size_t)size);
		uint32_t computed;

		if (!tmp)
			return lading_error_set(err, ENOMEM, "out of memory");
		memcpy(tmp, r->img + off, (size_t)size);
		memcpy(tmp, &h, sizeof(h));
		computed = lading_crc32c(~0u, tmp, (size_t)size);
		free(tmp);
		if (computed != crc)
			return corrupt(err, "blob table checksum mismatch");
	}
	r->records = (const struct lading_blob_record *)(r->img + off + sizeof(h));
	for (i = 0; i < r->nslots; i++) {
		const struct lading_blob_record *rec = &r->records[i];
		char hex[LADING_DIGEST_HEX_LEN + 1];

		lading_hex_encode(hex, rec->id, sizeof(rec->id));
		if (strcmp(hex, r->slots[i].tag))
			return corrupt(err, "blob table record %u names blob %s, "
				       "the slot tag is %s", i + 1, hex,
				       r->slots[i].tag);
		if (lading_le64_to_cpu(rec->uncompressed_size) !=
		    r->slots[i].blocks * r->bsize)
			return corrupt(err, "blob %s: %llu uncompressed bytes in the "
				       "blob table, %llu blocks in its slot", hex,
				       (unsigned long long)lading_le64_to_cpu(
					       rec->uncompressed_size),
				       (unsigned long long)r->slots[i].blocks);
	}
	return 0;
}

static int reader_init(struct lading_reader *r, struct lading_error *err)
{
	int ret = check_super(r, err);

	if (!ret)
		ret = load_slots(r, err);
	if (!ret)
		ret = load_blob_table(r, err);
	return ret;
}

uint16_t lading_reader_find_blob(const struct lading_reader *r,
				 const char *blob_id)
{
	uint16_t i;

	for (i = 0; i < r->nslots; i++)
		if (!strcmp(r->slots[i].tag, blob_id))
			return (uint16_t)(i + 1);
	return 0;
}

const struct lading_blob_record *lading_reader_blob_record(
	const struct lading_reader *r, uint16_t device_id)
{
	if (!r->records || device_id == 0 || device_id > r->nslots)
		return NULL;
	return &r->records[device_id - 1];
}

int lading_reader_open_mem(struct lading_reader **out, const void *img,
			   size_t len, struct lading_error *err)
{
	struct lading_reader *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return lading_error_set(err, ENOMEM, "out of memory");
	r->img = malloc(len ? len : 1);
	if (!r->img) {
		free(r);
		return lading_error_set(err, ENOMEM, "out of memory");
	}
	memcpy(r->img, img, len);
	r->len = len;
	ret = reader_init(r, err);
	if (ret) {
		lading_reader_close(r);
		return ret;
	}
	*out = r;
	return 0;
}

int lading_reader_open_file(struct lading_reader **out, const char *path,
			    struct lading_error *err)
{
	struct lading_reader *r;
	struct stat st;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lading_error_set(err, errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > MAX_BOOTSTRAP) {
		close(fd);
		return lading_error_set(err, EINVAL,
			"%s: not a regular file of at most 4 GiB", path);
	}
	r = calloc(1, sizeof(*r));
	if (r)
		r->img = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!r || !r->img) {
		free(r);
		close(fd);
		return lading_error_set(err, ENOMEM, "out of memory");
	}
	r->len = (size_t)st.st_size;
	ret = lading_pread_full(fd, r->img, r->len, 0);
	close(fd);
	if (ret) {
		lading_reader_close(r);
		return lading_error_set(err, -ret, "%s: read: %s", path,
					strerror(-ret));
	}
	ret = reader_init(r, err);
	if (ret) {
		lading_reader_close(r);
		return ret;
	}
	*out = r;
	return 0;
}

void lading_reader_close(struct lading_reader *r)
{
	if (!r)
		return;
	free(r->slots);
	free(r->img);
	free(r);
}

const struct erofs_super_block *lading_reader_super(const struct lading_reader *r)
{
	return &r->sb;
}

uint8_t lading_reader_blkszbits(const struct lading_reader *r)
{
	return r->bits;
}

uint16_t lading_reader_nslots(const struct lading_reader *r)
{
	return r->nslots;
}

const struct lading_rslot *lading_reader_slot(const struct lading_reader *r,
					      uint16_t device_id)
{
	if (device_id == 0 || device_id > r->nslots)
		return NULL;
	return &r->slots[device_id - 1];
}

const uint8_t *lading_reader_image(const struct lading_reader *r, size_t *len)
{
	*len = r->len;
	return r->img;
}

/* ---- inodes --------------------------------------------------------- */

static int check_layout(struct lading_reader *r, struct lading_rinode *ino,
			uint32_t i_u, struct lading_error *err)
{
	uint64_t body = ino->pos + ino->isize + ino->xattr_size;
	uint64_t nblocks = div_up(ino->size, r->bsize);

	switch (ino->layout) {
	case EROFS_INODE_FLAT_PLAIN:
		if (!ino->size)
			return 0;
		if ((uint64_t)i_u + nblocks > r->blocks)
			return corrupt(err, "nid %llu: data blocks %u+%llu outside "
				       "the image", (unsigned long long)ino->nid,
				       i_u, (unsigned long long)nblocks);
		return 0;
	case EROFS_INODE_FLAT_INLINE:
		if (!ino->size)
			return corrupt(err, "nid %llu: inline layout without data",
				       (unsigned long long)ino->nid);
		ino->inline_pos = body;
		ino->inline_len = (uint32_t)(ino->size -
					     (nblocks - 1) * r->bsize);
		if (body % r->bsize + ino->inline_len > r->bsize ||
		    !in_image(r, body, ino->inline_len))
			return corrupt(err, "nid %llu: inline data crosses a block "
				       "boundary or leaves the image",
				       (unsigned long long)ino->nid);
		if (nblocks > 1 && (uint64_t)i_u + nblocks - 1 > r->blocks)
			return corrupt(err, "nid %llu: data blocks outside the image",
				       (unsigned long long)ino->nid);
		return 0;
	case EROFS_INODE_CHUNK_BASED: {
		uint32_t fmt = i_u & 0xffff;

		if (!S_ISREG(ino->mode))
			return corrupt(err, "nid %llu: chunk-based layout on a "
				       "non-regular file", (unsigned long long)ino->nid);
		if (fmt & ~(EROFS_CHUNK_FORMAT_BLKBITS_MASK | EROFS_CHUNK_FORMAT_INDEXES))
			return corrupt(err, "nid %llu: unsupported chunk format 0x%x",
				       (unsigned long long)ino->nid, fmt);
		ino->chunk_bits = (uint8_t)(r->bits +
					    (fmt & EROFS_CHUNK_FORMAT_BLKBITS_MASK));
		/* a ToC entry's lengths are 32-bit: no blob holds a larger chunk */
		if (ino->chunk_bits > MAX_CHUNK_BITS)
			return corrupt(err, "nid %llu: chunk size 2^%u, larger than "
				       "any blob chunk (at most 2^%u)",
				       (unsigned long long)ino->nid, ino->chunk_bits,
				       MAX_CHUNK_BITS);
		ino->index_unit = (fmt & EROFS_CHUNK_FORMAT_INDEXES) ? 8 : 4;
		ino->nchunks = div_up(ino->size, 1ull << ino->chunk_bits);
		ino->index_pos = LADING_ALIGN_UP(body, (uint64_t)ino->index_unit);
		if (ino->nchunks > r->len / ino->index_unit ||
		    !in_image(r, ino->index_pos, ino->nchunks * ino->index_unit))
			return corrupt(err, "nid %llu: %llu chunk indexes leave the "
				       "image", (unsigned long long)ino->nid,
				       (unsigned long long)ino->nchunks);
		return 0;
	}
	default:
		return corrupt(err, "nid %llu: unsupported data layout %u",
			       (unsigned long long)ino->nid, ino->layout);
	}
}

static int check_mode_size(struct lading_rinode *ino, struct lading_error *err)
{
	unsigned long long nid = (unsigned long long)ino->nid;

	switch (ino->mode & S_IFMT) {
	case S_IFREG:
		/* MAX_LFS_FILESIZE: no Linux file (nor off_t) is larger */
		if (ino->size > (uint64_t)INT64_MAX)
			return corrupt(err, "nid %llu: size %llu beyond the largest "
				       "file Linux can hold (2^63-1 bytes)", nid,
				       (unsigned long long)ino->size);
		return 0;
	case S_IFDIR:
		if (!ino->size)
			return corrupt(err, "nid %llu: empty directory data", nid);
		if (ino->layout == EROFS_INODE_CHUNK_BASED)
			return corrupt(err, "nid %llu: chunk-based directory", nid);
		return 0;
	case S_IFLNK:
		if (!ino->size || ino->size >= 4096)
			return corrupt(err, "nid %llu: symlink of %llu bytes", nid,
				       (unsigned long long)ino->size);
		return 0;
	case S_IFCHR: case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		if (ino->size)
			return corrupt(err, "nid %llu: special file with size %llu",
				       nid, (unsigned long long)ino->size);
		return 0;
	default:
		return corrupt(err, "nid %llu: bad file mode 0%o", nid, ino->mode);
	}
}

int lading_reader_inode(struct lading_reader *r, uint64_t nid,
			struct lading_rinode *ino, struct lading_error *err)
{
	struct erofs_inode_compact c;
	uint64_t pos;
	uint32_t i_u;
	uint16_t fmt, icount;

	memset(ino, 0, sizeof(*ino));
	ino->nid = nid;
	if (nid > (r->len - r->meta_base) / 32)
		return corrupt(err, "nid %llu outside the image",
			       (unsigned long long)nid);
	pos = r->meta_base + nid * 32;
	if (!in_image(r, pos, sizeof(c)))
		return corrupt(err, "nid %llu outside the image",
			       (unsigned long long)nid);
	memcpy(&c, r->img + pos, sizeof(c));
	fmt = lading_le16_to_cpu(c.i_format);
	if (fmt & ~I_FORMAT_KNOWN)
		return corrupt(err, "nid %llu: unknown i_format bits 0x%x",
			       (unsigned long long)nid, fmt);
	ino->pos = pos;
	ino->extended = fmt & 1;
	ino->layout = (uint8_t)((fmt >> 1) & 7);
	ino->mode = lading_le16_to_cpu(c.i_mode);
	icount = lading_le16_to_cpu(c.i_xattr_icount);
	if (ino->extended) {
		struct erofs_inode_extended e;

		if (!in_image(r, pos, sizeof(e)))
			return corrupt(err, "nid %llu: extended inode leaves the image",
				       (unsigned long long)nid);
		memcpy(&e, r->img + pos, sizeof(e));
		ino->isize = sizeof(e);
		ino->size = lading_le64_to_cpu(e.i_size);
		i_u = lading_le32_to_cpu(e.i_u.startblk_lo);
		ino->uid = lading_le32_to_cpu(e.i_uid);
		ino->gid = lading_le32_to_cpu(e.i_gid);
		ino->mtime = (int64_t)lading_le64_to_cpu(e.i_mtime);
		ino->mtime_nsec = lading_le32_to_cpu(e.i_mtime_nsec);
		ino->nlink = lading_le32_to_cpu(e.i_nlink);
		if (ino->mtime_nsec >= NSEC_PER_SEC)
			return corrupt(err, "nid %llu: mtime nanoseconds %u",
				       (unsigned long long)nid, ino->mtime_nsec);
		/* (uid_t)-1 is no id: the kernel maps it to nobody, chown to "keep" */
		if (ino->uid == UINT32_MAX || ino->gid == UINT32_MAX)
			return corrupt(err, "nid %llu: owner %u:%u, -1 is not a "
				       "valid id", (unsigned long long)nid, ino->uid,
				       ino->gid);
	} else {
		ino->isize = sizeof(c);
		ino->size = lading_le32_to_cpu(c.i_size);
		i_u = lading_le32_to_cpu(c.i_u.startblk_lo);
		ino->uid = lading_le16_to_cpu(c.i_uid);
		ino->gid = lading_le16_to_cpu(c.i_gid);
		/* unsigned: a hostile epoch may not overflow a signed sum */
		ino->mtime = (int64_t)(r->epoch +
				       (uint64_t)lading_le32_to_cpu(c.i_mtime));
		ino->mtime_nsec = r->fixed_nsec;
		ino->nlink = (fmt & I_NLINK_1_BIT) && !S_ISDIR(ino->mode) ?
			1 : lading_le16_to_cpu(c.i_nb.nlink);
	}
	if ((fmt & I_NLINK_1_BIT) && (S_ISDIR(ino->mode) || ino->extended))
		return corrupt(err, "nid %llu: unsupported i_format bit 4",
			       (unsigned long long)nid);
	ino->xattr_size = icount ?
		(uint32_t)sizeof(struct erofs_xattr_ibody_header) + (icount - 1u) * 4 : 0;
	if (!in_image(r, pos, (uint64_t)ino->isize + ino->xattr_size))
		return corrupt(err, "nid %llu: xattrs leave the image",
			       (unsigned long long)nid);
	if (ino->nlink == 0)
		return corrupt(err, "nid %llu: link count 0", (unsigned long long)nid);
	if (S_ISCHR(ino->mode) || S_ISBLK(ino->mode))
		erofs_decode_dev(i_u, &ino->rdev_major, &ino->rdev_minor);
	else
		ino->raw_blkaddr = i_u;
	if (!S_ISREG(ino->mode) && !S_ISDIR(ino->mode) && !S_ISLNK(ino->mode) &&
	    ino->layout != EROFS_INODE_FLAT_PLAIN)
		return corrupt(err, "nid %llu: special file with data layout %u",
			       (unsigned long long)nid, ino->layout);
	if (check_mode_size(ino, err))
		return -EUCLEAN;
	if (!S_ISCHR(ino->mode) && !S_ISBLK(ino->mode))
		return check_layout(r, ino, i_u, err);
	return 0;
}

/* ---- xattrs --------------------------------------------------------- */

static int emit_xattr(struct lading_reader *r, uint64_t off, uint64_t end,
		      uint64_t *next, lading_xattr_fn fn, void *ud,
		      const struct lading_rinode *ino, struct lading_error *err)
{
	struct erofs_xattr_entry e;
	const char *prefix;
	char name[16 + 256 + 1];
	uint64_t total;

	if (off + sizeof(e) > end || !in_image(r, off, sizeof(e)))
		return corrupt(err, "nid %llu: xattr entry leaves its area",
			       (unsigned long long)ino->nid);
	memcpy(&e, r->img + off, sizeof(e));
	total = LADING_ALIGN_UP(sizeof(e) + e.e_name_len +
				(uint64_t)lading_le16_to_cpu(e.e_value_size),
				(uint64_t)4);
	if (off + total > end || !in_image(r, off, total))
		return corrupt(err, "nid %llu: xattr entry of %llu bytes leaves "
			       "its area", (unsigned long long)ino->nid,
			       (unsigned long long)total);
	prefix = (e.e_name_index & 0x80) ? NULL : erofs_xattr_prefix(e.e_name_index);
	if (!prefix)
		return corrupt(err, "nid %llu: unknown xattr name index %u",
			       (unsigned long long)ino->nid, e.e_name_index);
	if ((e.e_name_index == EROFS_XATTR_INDEX_POSIX_ACL_ACCESS ||
	     e.e_name_index == EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT) ?
	    e.e_name_len != 0 : e.e_name_len == 0)
		return corrupt(err, "nid %llu: bad xattr name length %u for "
			       "index %u", (unsigned long long)ino->nid,
			       e.e_name_len, e.e_name_index);
	snprintf(name, sizeof(name), "%s%.*s", prefix, (int)e.e_name_len,
		 (const char *)r->img + off + sizeof(e));
	if (strlen(name) != strlen(prefix) + e.e_name_len)
		return corrupt(err, "nid %llu: NUL inside an xattr name",
			       (unsigned long long)ino->nid);
	/* XATTR_NAME_MAX: what setxattr(2) and so an extract can set */
	if (strlen(name) > 255)
		return corrupt(err, "nid %llu: xattr name of %zu bytes (at most "
			       "255)", (unsigned long long)ino->nid, strlen(name));
	*next = off + total;
	return fn ? fn(ud, name, r->img + off + sizeof(e) + e.e_name_len,
		       lading_le16_to_cpu(e.e_value_size)) : 0;
}

int lading_reader_xattrs(struct lading_reader *r, const struct lading_rinode *ino,
			 lading_xattr_fn fn, void *ud, struct lading_error *err)
{
	struct erofs_xattr_ibody_header h;
	uint64_t off = ino->pos + ino->isize, end = off + ino->xattr_size, next;
	uint32_t i;
	int ret;

	if (!ino->xattr_size)
		return 0;
	memcpy(&h, r->img + off, sizeof(h));	/* in range: inode checked it */
	off += sizeof(h);
	if (off + (uint64_t)h.h_shared_count * 4 > end)
		return corrupt(err, "nid %llu: %u shared xattrs overflow the ibody",
			       (unsigned long long)ino->nid, h.h_shared_count);
	for (i = 0; i < h.h_shared_count; i++) {
		uint32_t id = lading_get_le32(r->img + off + (uint64_t)i * 4);
		uint64_t at;

		at = (uint64_t)r->xattr_blkaddr * r->bsize +
		     (uint64_t)id * 4;
		ret = emit_xattr(r, at, r->len, &next, fn, ud, ino, err);
		if (ret)
			return ret;
	}
	off += (uint64_t)h.h_shared_count * 4;
	while (off < end) {
		ret = emit_xattr(r, off, end, &next, fn, ud, ino, err);
		if (ret)
			return ret;
		off = next;
	}
	return 0;
}

/* ---- data ----------------------------------------------------------- */

int lading_reader_read_flat(struct lading_reader *r,
			    const struct lading_rinode *ino, uint64_t off,
			    void *buf, size_t len, struct lading_error *err)
{
	uint8_t *out = buf;

	if (ino->layout == EROFS_INODE_CHUNK_BASED || off > ino->size ||
	    len > ino->size - off)
		return corrupt(err, "nid %llu: read past the end",
			       (unsigned long long)ino->nid);
	while (len) {
		uint64_t blk = off / r->bsize, in = off % r->bsize;
		uint64_t n = r->bsize - in, src;
		uint64_t nblocks = div_up(ino->size, r->bsize);

		if (n > len)
			n = len;
		if (ino->layout == EROFS_INODE_FLAT_INLINE && blk == nblocks - 1)
			src = ino->inline_pos + in;
		else
			src = ((uint64_t)ino->raw_blkaddr + blk) * r->bsize + in;
		if (!in_image(r, src, n))
			return corrupt(err, "nid %llu: data outside the image",
				       (unsigned long long)ino->nid);
		memcpy(out, r->img + src, n);
		out += n;
		off += n;
		len -= n;
	}
	return 0;
}

int lading_reader_chunk(struct lading_reader *r, const struct lading_rinode *ino,
			uint64_t i, struct lading_rchunk *c,
			struct lading_error *err)
{
	uint64_t csize = 1ull << ino->chunk_bits, blocks, limit;
	uint32_t lo;

	if (ino->layout != EROFS_INODE_CHUNK_BASED || i >= ino->nchunks)
		return corrupt(err, "nid %llu: no chunk %llu",
			       (unsigned long long)ino->nid, (unsigned long long)i);
	memset(c, 0, sizeof(*c));
	c->offset = i * csize;
	c->length = ino->size - c->offset < csize ? ino->size - c->offset : csize;
	if (ino->index_unit == 8) {
		struct erofs_inode_chunk_index idx;

		memcpy(&idx, r->img + ino->index_pos + i * 8, sizeof(idx));
		uint16_t dev = lading_le16_to_cpu(idx.device_id);

		lo = lading_le32_to_cpu(idx.startblk_lo);
		/*
		 * The kernel masks the id; bits beyond the mask are never
		 * written by a sane tool, so they are reported, not masked.
		 */
		if (lo != EROFS_NULL_ADDR && dev > r->nslots)
			return corrupt(err, "nid %llu: chunk %llu names device %u, "
				       "the table has %u", (unsigned long long)ino->nid,
				       (unsigned long long)i, dev, r->nslots);
		c->device_id = dev & r->device_mask;
	} else {
		lo = lading_get_le32(r->img + ino->index_pos + i * 4);
	}
	if (lo == EROFS_NULL_ADDR) {
		c->hole = true;
		c->device_id = 0;
		return 0;
	}
	c->blkaddr = lo;
	blocks = div_up(c->length, r->bsize);
	if (c->device_id) {
		const struct lading_rslot *s = lading_reader_slot(r, c->device_id);

		if (!s)
			return corrupt(err, "nid %llu: chunk %llu names device %u, "
				       "the table has %u", (unsigned long long)ino->nid,
				       (unsigned long long)i, c->device_id, r->nslots);
		limit = s->blocks;
	} else {
		limit = r->blocks;
	}
	if (c->blkaddr + blocks > limit)
		return corrupt(err, "nid %llu: chunk %llu (blocks %llu+%llu) beyond "
			       "the %llu blocks of device %u",
			       (unsigned long long)ino->nid, (unsigned long long)i,
			       (unsigned long long)c->blkaddr,
			       (unsigned long long)blocks, (unsigned long long)limit,
			       c->device_id);
	return 0;
}

int lading_reader_symlink(struct lading_reader *r, const struct lading_rinode *ino,
			  char *buf, struct lading_error *err)
{
	int ret;

	if (!S_ISLNK(ino->mode))
		return corrupt(err, "nid %llu: not a symlink",
			       (unsigned long long)ino->nid);
	ret = lading_reader_read_flat(r, ino, 0, buf, (size_t)ino->size, err);
	if (ret)
		return ret;
	buf[ino->size] = '\0';
	if (strlen(buf) != ino->size)
		return corrupt(err, "nid %llu: NUL inside a symlink target",
			       (unsigned long long)ino->nid);
	return 0;
}

/* ---- walking -------------------------------------------------------- */

/*
 * Link accounting per nid in one u64: names (or, for directories, links
 * from "." and subdirectories) found in the high half, i_nlink in the low.
 */
#define LINKS_SEEN(v) ((uint32_t)((v) >> 32))
#define LINKS_CLAIMED(v) ((uint32_t)(v))
#define LINKS(seen, claimed) ((uint64_t)(seen) << 32 | (claimed))

struct dir_entry {
	uint64_t nid;
	uint32_t nameoff;	/* into the directory's data */
	uint16_t namelen;
	uint8_t file_type;
};

struct walk_frame {
	struct lading_rinode dir;
	uint8_t *data;
	struct dir_entry *ents;
	size_t nents, next;
	size_t path_len;
	uint32_t subdirs;
};

static int parse_dir_block(const struct lading_rinode *dir, const uint8_t *blk,
			   size_t blen, struct dir_entry *out, size_t *n,
			   size_t cap, struct lading_error *err)
{
	unsigned long long nid = (unsigned long long)dir->nid;
	struct erofs_dirent de;
	size_t count, j;
	uint16_t nameoff;

	if (blen < sizeof(de))
		return corrupt(err, "nid %llu: directory block of %zu bytes", nid, blen);
	memcpy(&de, blk, sizeof(de));
	nameoff = lading_le16_to_cpu(de.nameoff);
	if (nameoff < sizeof(de) || nameoff % sizeof(de) || nameoff >= blen)
		return corrupt(err, "nid %llu: bad first nameoff %u", nid, nameoff);
	count = nameoff / sizeof(de);
	if (*n + count > cap)
		return corrupt(err, "nid %llu: too many dirents", nid);
	for (j = 0; j < count; j++) {
		struct dir_entry *e = &out[*n + j];
		size_t len;

		memcpy(&de, blk + j * sizeof(de), sizeof(de));
		nameoff = lading_le16_to_cpu(de.nameoff);
		if (nameoff < count * sizeof(de) || nameoff >= blen)
			return corrupt(err, "nid %llu: dirent %zu nameoff %u out of "
				       "range", nid, j, nameoff);
		if (j + 1 < count) {
			uint16_t nextoff = lading_get_le16(
				blk + (j + 1) * sizeof(de) +
				offsetof(struct erofs_dirent, nameoff));

			if (nextoff <= nameoff || nextoff > blen)
				return corrupt(err, "nid %llu: dirent %zu names "
					       "overlap", nid, j);
			len = nextoff - nameoff;
		} else {
			len = strnlen((const char *)blk + nameoff, blen - nameoff);
		}
		if (len == 0 || len > EROFS_NAME_LEN)
			return corrupt(err, "nid %llu: dirent name of %zu bytes",
				       nid, len);
		if (memchr(blk + nameoff, '/', len) ||
		    memchr(blk + nameoff, '\0', len))
			return corrupt(err, "nid %llu: dirent name with '/' or NUL",
				       nid);
		if (de.file_type == EROFS_FT_UNKNOWN || de.file_type > EROFS_FT_SYMLINK)
			return corrupt(err, "nid %llu: dirent file type %u", nid,
				       de.file_type);
		e->nid = lading_le64_to_cpu(de.nid);
		e->nameoff = nameoff;
		e->namelen = (uint16_t)len;
		e->file_type = de.file_type;
	}
	*n += count;
	return 0;
}

/* Reads and checks one directory: sorted, unique names, "." and "..". */
static int load_dir(struct lading_reader *r, struct walk_frame *f,
		    uint64_t parent_nid, const char *path,
		    struct lading_error *err)
{
	const struct lading_rinode *dir = &f->dir;
	uint64_t nblocks = div_up(dir->size, r->bsize);
	size_t cap, i, n = 0;
	bool dot = false, dotdot = false;
	int ret;

	if (dir->size > r->len)
		return corrupt(err, "nid %llu (/%s): directory larger than the image",
			       (unsigned long long)dir->nid, path);
	f->data = malloc((size_t)dir->size);
	cap = (size_t)dir->size / (sizeof(struct erofs_dirent) + 1) + 1;
	f->ents = calloc(cap, sizeof(*f->ents));
	if (!f->data || !f->ents)
		return lading_error_set(err, ENOMEM, "out of memory");
	ret = lading_reader_read_flat(r, dir, 0, f->data, (size_t)dir->size, err);
	if (ret)
		return ret;
	for (i = 0; i < nblocks; i++) {
		uint64_t off = i * r->bsize;
		size_t blen = (size_t)(dir->size - off < r->bsize ?
				       dir->size - off : r->bsize);
		size_t first = n, j;

		ret = parse_dir_block(dir, f->data + off, blen, f->ents, &n, cap, err);
		if (ret)
			return lading_error_set(err, EUCLEAN, "(in /%s)", path);
		for (j = first; j < n; j++)
			f->ents[j].nameoff += (uint32_t)off;
	}
	for (i = 0; i < n; i++) {
		const struct dir_entry *e = &f->ents[i];
		const char *name = (const char *)f->data + e->nameoff;

		if (i && erofs_name_cmp((const char *)f->data + f->ents[i - 1].nameoff,
					f->ents[i - 1].namelen, name, e->namelen) >= 0)
			return corrupt(err, "nid %llu (/%s): dirents not strictly "
				       "sorted at '%.*s'", (unsigned long long)dir->nid,
				       path, (int)e->namelen, name);
		if (e->namelen == 1 && name[0] == '.') {
			dot = true;
			if (e->nid != dir->nid || e->file_type != EROFS_FT_DIR)
				return corrupt(err, "nid %llu (/%s): '.' names nid %llu",
					       (unsigned long long)dir->nid, path,
					       (unsigned long long)e->nid);
		} else if (e->namelen == 2 && name[0] == '.' && name[1] == '.') {
			dotdot = true;
			if (e->nid != parent_nid || e->file_type != EROFS_FT_DIR)
				return corrupt(err, "nid %llu (/%s): '..' names nid %llu, "
					       "parent is %llu",
					       (unsigned long long)dir->nid, path,
					       (unsigned long long)e->nid,
					       (unsigned long long)parent_nid);
		}
	}
	if (!dot || !dotdot)
		return corrupt(err, "nid %llu (/%s): '.' or '..' missing",
			       (unsigned long long)dir->nid, path);
	f->nents = n;
	return 0;
}

static int path_append(char **path, size_t *cap, size_t at, const char *name,
		       size_t len)
{
	size_t need = at + 1 + len + 1;

	if (need > *cap) {
		char *p = realloc(*path, need * 2);

		if (!p)
			return -ENOMEM;
		*path = p;
		*cap = need * 2;
	}
	if (at)
		(*path)[at++] = '/';
	memcpy(*path + at, name, len);
	(*path)[at + len] = '\0';
	return 0;
}

static void frame_free(struct walk_frame *f)
{
	free(f->data);
	free(f->ents);
	f->data = NULL;
	f->ents = NULL;
}

struct walker {
	struct lading_reader *r;
	lading_walk_fn fn;
	void *ud;
	struct lading_error *err;
	struct lading_idmap seen;	/* nid -> LINKS() */
	struct walk_frame *stack;
	size_t depth, cap;
	char *path;
	size_t path_cap;
};

static int push_dir(struct walker *w, const struct lading_rinode *dir,
		    uint64_t parent_nid, size_t path_len)
{
	struct walk_frame *f;
	int ret;

	if (w->depth == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 32;
		struct walk_frame *s = realloc(w->stack, cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		w->stack = s;
		w->cap = cap;
	}
	f = &w->stack[w->depth];
	memset(f, 0, sizeof(*f));
	f->dir = *dir;
	f->path_len = path_len;
	w->depth++;
	ret = load_dir(w->r, f, parent_nid, w->path, w->err);
	return ret;
}

static int check_links(struct walker *w)
{
	size_t i;

	for (i = 0; i < w->seen.cap; i++) {
		uint64_t v = w->seen.values[i], nid = w->seen.keys[i] - 1;
		struct lading_rinode ino;

		if (!w->seen.keys[i] || LINKS_SEEN(v) == LINKS_CLAIMED(v))
			continue;
		if (lading_reader_inode(w->r, nid, &ino, w->err))
			return -EUCLEAN;
		return corrupt(w->err, "nid %llu: link count %u, but %u %s",
			       (unsigned long long)nid, LINKS_CLAIMED(v),
			       LINKS_SEEN(v), S_ISDIR(ino.mode) ?
			       "links from itself and subdirectories" : "names");
	}
	return 0;
}

static int visit_child(struct walker *w, struct walk_frame *f,
		       const struct dir_entry *e)
{
	const char *name = (const char *)f->data + e->nameoff;
	struct lading_rinode child;
	struct lading_rentry re;
	uint64_t *links;
	bool created;
	int ret;

	ret = path_append(&w->path, &w->path_cap, f->path_len, name, e->namelen);
	if (ret)
		return lading_error_set(w->err, ENOMEM, "out of memory");
	ret = lading_reader_inode(w->r, e->nid, &child, w->err);
	if (ret)
		return lading_error_set(w->err, EUCLEAN, "(at /%s)", w->path);
	if (erofs_file_type_of(child.mode) != e->file_type)
		return corrupt(w->err, "nid %llu (/%s): dirent type %u, inode "
			       "mode 0%o", (unsigned long long)child.nid, w->path,
			       e->file_type, child.mode);
	links = lading_idmap_insert(&w->seen, child.nid, &created);
	if (!links)
		return lading_error_set(w->err, ENOMEM, "out of memory");
	if (S_ISDIR(child.mode)) {
		if (!created)
			return corrupt(w->err, "nid %llu (/%s): directory reachable "
				       "twice (a loop or a hardlinked directory)",
				       (unsigned long long)child.nid, w->path);
		*links = LINKS(2, child.nlink);	/* its name and its "." */
		f->subdirs++;
	} else {
		*links = LINKS(LINKS_SEEN(*links) + 1, child.nlink);
	}
	re = (struct lading_rentry){
		.path = w->path, .name = name, .namelen = e->namelen,
		.file_type = e->file_type, .inode = &child, .parent = &f->dir,
		.first_link = created,
	};
	ret = w->fn ? w->fn(w->ud, &re) : 0;
	if (ret)
		return ret;
	/* no strlen(): on a deep tree that would cost the depth every time */
	if (S_ISDIR(child.mode))
		return push_dir(w, &child, f->dir.nid, f->path_len +
				(f->path_len ? 1 : 0) + e->namelen);
	return 0;
}

int lading_reader_walk(struct lading_reader *r, lading_walk_fn fn, void *ud,
		       struct lading_error *err)
{
	struct walker w = { .r = r, .fn = fn, .ud = ud, .err = err };
	struct lading_rinode root;
	struct lading_rentry re;
	uint64_t *links;
	bool created;
	int ret;

	ret = lading_reader_inode(r, r->root_nid, &root, err);
	if (ret)
		return ret;
	if (!S_ISDIR(root.mode))
		return corrupt(err, "root nid %u is not a directory", r->root_nid);
	w.path = calloc(1, 256);
	w.path_cap = 256;
	links = w.path ? lading_idmap_insert(&w.seen, root.nid, &created) : NULL;
	if (!links) {
		free(w.path);
		return lading_error_set(err, ENOMEM, "out of memory");
	}
	*links = LINKS(2, root.nlink);	/* "." and the root's own ".." */
	re = (struct lading_rentry){ .path = "", .name = "", .inode = &root,
				     .file_type = EROFS_FT_DIR, .first_link = true };
	ret = fn ? fn(ud, &re) : 0;
	if (!ret)
		ret = push_dir(&w, &root, root.nid, 0);
	while (!ret && w.depth) {
		struct walk_frame *f = &w.stack[w.depth - 1];
		const struct dir_entry *e;
		const char *name;

		if (f->next == f->nents) {
			links = lading_idmap_find(&w.seen, f->dir.nid);
			*links += (uint64_t)f->subdirs << 32;	/* their ".." */
			frame_free(f);
			w.depth--;
			continue;
		}
		e = &f->ents[f->next++];
		name = (const char *)f->data + e->nameoff;
		if ((e->namelen == 1 && name[0] == '.') ||
		    (e->namelen == 2 && name[0] == '.' && name[1] == '.'))
			continue;
		ret = visit_child(&w, f, e);
	}
	while (w.depth)
		frame_free(&w.stack[--w.depth]);
	if (!ret)
		ret = check_links(&w);
	free(w.stack);
	lading_idmap_free(&w.seen);
	free(w.path);
	return ret < 0 ? ret : 0;
}
