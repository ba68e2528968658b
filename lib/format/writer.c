// SPDX-License-Identifier: MIT
/*
 * Bootstrap writer: plans every inode's on-disk record (compact or
 * extended, inline tail or plain blocks or chunk indexes), places the
 * records in the metadata area, then encodes the whole image in memory.
 * The image holds metadata only, so its size grows with the number of
 * files, never with their size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lading/format.h>
#include <lading/tree.h>

#define DEVT_SLOT_START (EROFS_SUPER_OFFSET + sizeof(struct erofs_super_block))

struct inode_plan {
	struct lading_inode *ino;
	uint64_t pos;		/* byte offset of the on-disk inode */
	uint8_t *xattr_body;	/* encoded ibody, xattr_size bytes */
	uint32_t xattr_size;
	uint16_t isize;		/* 32 or 64 */
	uint8_t layout;
	uint64_t data_size;	/* i_size */
	uint32_t tail_len;	/* bytes inline after the inode */
	uint32_t plain_blocks;	/* whole blocks in the data area */
	uint32_t raw_blkaddr;
	uint64_t nchunks;
	/* directories: sorted entries incl. "." and ".." */
	struct erofs_dirent_in *dirents;
	struct lading_inode **targets;	/* inode each dirent names */
	size_t ndirents;
	struct lading_inode *parent;	/* directories only */
};

struct image_plan {
	const struct lading_bootstrap_params *params;
	uint32_t bsize;		/* block size, 1 << bits */
	uint8_t bits;
	struct inode_plan *inodes;
	size_t count, cap;
	int64_t epoch;
	uint32_t meta_blkaddr;
	uint32_t total_blocks;
	bool has_chunked;
	struct lading_error *err;
};

static uint64_t plan_nid(const struct image_plan *ip, const struct inode_plan *p)
{
	return (p->pos - (uint64_t)ip->meta_blkaddr * ip->bsize) / 32;
}

static int plan_add(struct image_plan *ip, struct lading_inode *ino)
{
	if (ip->count == ip->cap) {
		size_t cap = ip->cap ? ip->cap * 2 : 256;
		struct inode_plan *n = realloc(ip->inodes, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		ip->inodes = n;
		ip->cap = cap;
	}
	memset(&ip->inodes[ip->count], 0, sizeof(ip->inodes[0]));
	ip->inodes[ip->count].ino = ino;
	ino->scratch = (uint32_t)++ip->count;	/* 1-based: 0 = unseen */
	return 0;
}

static int reset_scratch(struct lading_dentry *d, void *ud)
{
	(void)ud;
	d->inode->scratch = 0;
	return 0;
}

static int collect_inode(struct lading_dentry *d, void *ud)
{
	struct image_plan *ip = ud;
	int ret;

	if (d->inode->scratch)
		return 0;	/* another hardlink already placed it */
	ret = plan_add(ip, d->inode);
	if (!ret)
		ip->inodes[ip->count - 1].parent = d->parent;
	return ret;
}

static struct inode_plan *plan_of(struct image_plan *ip,
				  const struct lading_inode *ino)
{
	return &ip->inodes[ino->scratch - 1];
}

static int encode_xattrs(struct image_plan *ip, struct inode_plan *p)
{
	struct lading_inode *ino = p->ino;
	size_t size = sizeof(struct erofs_xattr_ibody_header), off;
	uint32_t i;
	uint8_t *body;

	if (!ino->nxattrs)
		return 0;
	lading_inode_sort_xattrs(ino);
	for (i = 0; i < ino->nxattrs; i++) {
		const char *suffix;
		uint8_t index;

		if (erofs_xattr_split_name(ino->xattrs[i].name, &index, &suffix))
			return lading_error_set(ip->err, EOPNOTSUPP,
				"xattr '%s' cannot be stored in EROFS",
				ino->xattrs[i].name);
		if (strlen(suffix) > 255 || ino->xattrs[i].len > 65535)
			return lading_error_set(ip->err, E2BIG,
				"xattr '%s' is too large", ino->xattrs[i].name);
		size += LADING_ALIGN_UP(sizeof(struct erofs_xattr_entry) +
					strlen(suffix) + ino->xattrs[i].len,
					(size_t)4);
	}
	if ((size - sizeof(struct erofs_xattr_ibody_header)) / 4 + 1 > 0xffff)
		return lading_error_set(ip->err, E2BIG,
					"xattrs of one inode exceed 256 KiB");
	body = calloc(1, size);
	if (!body)
		return -ENOMEM;
	off = sizeof(struct erofs_xattr_ibody_header);
	for (i = 0; i < ino->nxattrs; i++) {
		const struct lading_xattr *x = &ino->xattrs[i];
		struct erofs_xattr_entry e;
		const char *suffix;
		size_t nl;

		erofs_xattr_split_name(x->name, &e.e_name_index, &suffix);
		nl = strlen(suffix);
		e.e_name_len = (uint8_t)nl;
		e.e_value_size = lading_cpu_to_le16((uint16_t)x->len);
		memcpy(body + off, &e, sizeof(e));
		memcpy(body + off + sizeof(e), suffix, nl);
		memcpy(body + off + sizeof(e) + nl, x->value, x->len);
		off += LADING_ALIGN_UP(sizeof(e) + nl + x->len, (size_t)4);
	}
	p->xattr_body = body;
	p->xattr_size = (uint32_t)size;
	return 0;
}

static int plan_dirents(const struct image_plan *ip, struct inode_plan *p)
{
	struct lading_inode *dir = p->ino;
	size_t n = dir->nchildren + 2, i, j = 0, blocks = 0, used = 0;
	struct erofs_dirent_in *de = calloc(n, sizeof(*de));
	struct lading_inode **to = calloc(n, sizeof(*to));
	bool dot_done = false, dotdot_done = false;

	p->dirents = de;
	p->targets = to;
	p->ndirents = n;
	if (!de || !to)
		return -ENOMEM;
	/* children are sorted; merge "." and ".." into their places */
	for (i = 0; i <= dir->nchildren; i++) {
		struct lading_dentry *d = i < dir->nchildren ? dir->children[i] : NULL;

		if (!dot_done &&
		    (!d || erofs_name_cmp(".", 1, d->name, d->namelen) < 0)) {
			de[j] = (struct erofs_dirent_in){ ".", 1, EROFS_FT_DIR, 0 };
			to[j++] = dir;
			dot_done = true;
		}
		if (!dotdot_done &&
		    (!d || erofs_name_cmp("..", 2, d->name, d->namelen) < 0)) {
			de[j] = (struct erofs_dirent_in){ "..", 2, EROFS_FT_DIR, 0 };
			to[j++] = p->parent;
			dotdot_done = true;
		}
		if (!d)
			break;
		de[j] = (struct erofs_dirent_in){
			d->name, d->namelen, erofs_file_type_of(d->inode->mode), 0 };
		to[j++] = d->inode;
	}

	for (i = 0; i < n; blocks++)
		i += erofs_dirblock_fit_bs(de + i, n - i, &used, ip->bsize);
	p->data_size = (uint64_t)(blocks - 1) * ip->bsize + used;
	return 0;
}

static bool fits_compact(const struct image_plan *ip, const struct inode_plan *p)
{
	const struct lading_inode *ino = p->ino;
	return ino->uid <= 0xffff && ino->gid <= 0xffff &&
	       p->data_size <= 0xffffffffull && ino->nlink <= 0xffff &&
	       ino->mtime == ip->epoch &&
	       !(ip->params->keep_nsec && ino->mtime_nsec);
}

static int plan_inode(struct image_plan *ip, struct inode_plan *p)
{
	struct lading_inode *ino = p->ino;
	uint32_t chunk = ip->params->chunk_size;
	int ret;

	ret = encode_xattrs(ip, p);
	if (ret)
		return ret;
	switch (ino->mode & S_IFMT) {
	case S_IFREG:
		p->data_size = ino->size;
		break;
	case S_IFLNK:
		p->data_size = strlen(ino->symlink);
		break;
	case S_IFDIR:
		break;	/* plan_dirents() set it */
	default:
		p->data_size = 0;
	}
	p->isize = fits_compact(ip, p) ? sizeof(struct erofs_inode_compact) :
					 sizeof(struct erofs_inode_extended);
	p->layout = EROFS_INODE_FLAT_PLAIN;
	p->raw_blkaddr = EROFS_NULL_ADDR;
	if (p->data_size == 0)
		return 0;

	if (S_ISREG(ino->mode) && !ino->inline_data) {
		p->layout = EROFS_INODE_CHUNK_BASED;
		p->nchunks = (p->data_size + chunk - 1) / chunk;
		if (p->nchunks != ino->nchunks)
			return lading_error_set(ip->err, EINVAL,
				"internal: file of %llu bytes has %u chunks",
				(unsigned long long)p->data_size, ino->nchunks);
		ip->has_chunked = true;
		return 0;
	}

	/* dirs, symlinks and small files: tail inline when it fits */
	{
		uint64_t nblocks = (p->data_size + ip->bsize - 1) /
				   ip->bsize;
		uint64_t tail = p->data_size - (nblocks - 1) * ip->bsize;

		if (nblocks > UINT32_MAX / 2)
			return lading_error_set(ip->err, EFBIG,
						"directory too large");
		if (p->isize + p->xattr_size + tail <= ip->bsize) {
			p->layout = EROFS_INODE_FLAT_INLINE;
			p->tail_len = (uint32_t)tail;
			p->plain_blocks = (uint32_t)(nblocks - 1);
			p->raw_blkaddr = 0;
		} else {
			p->plain_blocks = (uint32_t)nblocks;
		}
	}
	return 0;
}

static uint64_t record_size(const struct inode_plan *p)
{
	uint64_t sz = p->isize + p->xattr_size;

	if (p->layout == EROFS_INODE_CHUNK_BASED)
		return LADING_ALIGN_UP(sz, 8) +
		       p->nchunks * sizeof(struct erofs_inode_chunk_index);
	return sz + p->tail_len;
}

static int place_inodes(struct image_plan *ip)
{
	uint64_t pos = (uint64_t)ip->meta_blkaddr * ip->bsize;
	uint64_t blk;
	size_t i;

	for (i = 0; i < ip->count; i++) {
		struct inode_plan *p = &ip->inodes[i];
		/* inline tails (and inode + xattrs) must not cross a block */
		uint64_t keep = p->isize + p->xattr_size + p->tail_len;

		if (keep <= ip->bsize &&
		    pos % ip->bsize + keep > ip->bsize)
			pos = LADING_ALIGN_UP(pos, (uint64_t)ip->bsize);
		p->pos = pos;
		pos = LADING_ALIGN_UP(pos + record_size(p), (uint64_t)32);
	}
	if (i && (ip->inodes[0].pos - (uint64_t)ip->meta_blkaddr *
		  ip->bsize) / 32 > 0xffff)
		return lading_error_set(ip->err, EFBIG, "root nid out of range");
	blk = (pos + ip->bsize - 1) / ip->bsize;
	for (i = 0; i < ip->count; i++) {
		struct inode_plan *p = &ip->inodes[i];

		if (!p->plain_blocks)
			continue;
		p->raw_blkaddr = (uint32_t)blk;
		blk += p->plain_blocks;
	}
	if (blk >= EROFS_NULL_ADDR)
		return lading_error_set(ip->err, EFBIG, "bootstrap too large");
	ip->total_blocks = (uint32_t)blk;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Compact inodes carry no usable mtime of their own on kernels before
 * 6.15 (the field was i_reserved and readers show the superblock epoch),
 * so only inodes whose mtime equals the epoch go compact: the epoch is the
 * most common mtime, which after SOURCE_DATE_EPOCH clamping is most files.
 */
static int pick_epoch(struct image_plan *ip)
{
	int64_t *t = malloc(ip->count * sizeof(*t)), best = 0;
	size_t i, run = 0, best_run = 0;

	if (!t)
		return -ENOMEM;
	for (i = 0; i < ip->count; i++)
		t[i] = ip->inodes[i].ino->mtime;
	qsort(t, ip->count, sizeof(*t), cmp_i64);
	for (i = 0; i < ip->count; i++) {
		run = (i && t[i] == t[i - 1]) ? run + 1 : 1;
		if (run > best_run && t[i] >= 0) {
			best_run = run;
			best = t[i];
		}
	}
	free(t);
	ip->epoch = best;
	return 0;
}

static union erofs_inode_i_u inode_i_u(const struct image_plan *ip,
				       const struct inode_plan *p)
{
	const struct lading_inode *ino = p->ino;
	union erofs_inode_i_u u = { .startblk_lo = lading_cpu_to_le32(0) };

	if (S_ISCHR(ino->mode) || S_ISBLK(ino->mode))
		u.rdev = lading_cpu_to_le32(erofs_encode_dev(ino->rdev_major,
							     ino->rdev_minor));
	else if (p->layout == EROFS_INODE_CHUNK_BASED)
		u.c.format = lading_cpu_to_le16((uint16_t)(
			(__builtin_ctz(ip->params->chunk_size) - ip->bits) |
			EROFS_CHUNK_FORMAT_INDEXES));
	else if (!S_ISFIFO(ino->mode) && !S_ISSOCK(ino->mode))
		u.startblk_lo = lading_cpu_to_le32(p->raw_blkaddr);
	return u;
}

static void encode_inode(const struct image_plan *ip,
			 const struct inode_plan *p, uint8_t *at, uint32_t ino_nr)
{
	const struct lading_inode *ino = p->ino;
	uint16_t icount = p->xattr_size ?
		(uint16_t)((p->xattr_size - sizeof(struct erofs_xattr_ibody_header)) / 4 + 1) : 0;
	uint16_t format = (uint16_t)(p->layout << 1);

	if (p->isize == sizeof(struct erofs_inode_compact)) {
		struct erofs_inode_compact c = {
			.i_format = lading_cpu_to_le16(format),
			.i_xattr_icount = lading_cpu_to_le16(icount),
			.i_mode = lading_cpu_to_le16((uint16_t)ino->mode),
			.i_nb.nlink = lading_cpu_to_le16((uint16_t)ino->nlink),
			.i_size = lading_cpu_to_le32((uint32_t)p->data_size),
			/* i_mtime 0: == epoch, see pick_epoch() */
			.i_u = inode_i_u(ip, p),
			.i_ino = lading_cpu_to_le32(ino_nr),
			.i_uid = lading_cpu_to_le16((uint16_t)ino->uid),
			.i_gid = lading_cpu_to_le16((uint16_t)ino->gid),
		};
		memcpy(at, &c, sizeof(c));
	} else {
		struct erofs_inode_extended e = {
			.i_format = lading_cpu_to_le16(format | 1),
			.i_xattr_icount = lading_cpu_to_le16(icount),
			.i_mode = lading_cpu_to_le16((uint16_t)ino->mode),
			.i_size = lading_cpu_to_le64(p->data_size),
			.i_u = inode_i_u(ip, p),
			.i_ino = lading_cpu_to_le32(ino_nr),
			.i_uid = lading_cpu_to_le32(ino->uid),
			.i_gid = lading_cpu_to_le32(ino->gid),
			.i_mtime = lading_cpu_to_le64((uint64_t)ino->mtime),
			.i_mtime_nsec = lading_cpu_to_le32(
				ip->params->keep_nsec ? ino->mtime_nsec : 0),
			.i_nlink = lading_cpu_to_le32(ino->nlink),
		};
		memcpy(at, &e, sizeof(e));
	}
	if (p->xattr_size)
		memcpy(at + p->isize, p->xattr_body, p->xattr_size);
}

/* The bytes of a dir/symlink/inline file, data_size long; malloc'ed. */
static uint8_t *inode_data(struct image_plan *ip, struct inode_plan *p)
{
	struct lading_inode *ino = p->ino;
	size_t i, blk = 0;
	uint8_t *buf;

	if (!S_ISDIR(ino->mode)) {
		buf = malloc(p->data_size);
		if (buf)
			memcpy(buf, S_ISLNK(ino->mode) ?
			       (const uint8_t *)ino->symlink : ino->inline_data,
			       p->data_size);
		return buf;
	}
	buf = calloc(1, LADING_ALIGN_UP(p->data_size, (uint64_t)ip->bsize));
	if (!buf)
		return NULL;
	for (i = 0; i < p->ndirents; i++)
		p->dirents[i].nid = plan_nid(ip, plan_of(ip, p->targets[i]));
	for (i = 0; i < p->ndirents; blk++) {
		size_t used, fit = erofs_dirblock_fit_bs(p->dirents + i,
							 p->ndirents - i, &used,
							 ip->bsize);

		erofs_dirblock_encode_bs(buf + blk * ip->bsize,
					 p->dirents + i, fit, ip->bsize);
		i += fit;
	}
	return buf;
}

static int write_payload(struct image_plan *ip, struct inode_plan *p,
			 uint8_t *img)
{
	uint8_t *at = img + p->pos;
	uint8_t *data;
	uint64_t i;

	if (p->layout == EROFS_INODE_CHUNK_BASED) {
		uint8_t *idx = img + LADING_ALIGN_UP(p->pos + p->isize +
						     p->xattr_size, 8);

		for (i = 0; i < p->nchunks; i++) {
			const struct lading_chunk_ref *r = &p->ino->chunks[i];
			struct erofs_inode_chunk_index ci;

			erofs_chunk_index_encode(&ci, r->device_id, r->blkaddr);
			memcpy(idx + i * sizeof(ci), &ci, sizeof(ci));
		}
		return 0;
	}
	if (!p->tail_len && !p->plain_blocks)
		return 0;
	data = inode_data(ip, p);
	if (!data)
		return -ENOMEM;
	if (p->plain_blocks) {
		uint64_t full = p->layout == EROFS_INODE_FLAT_INLINE ?
			(uint64_t)p->plain_blocks * ip->bsize : p->data_size;

		memcpy(img + (uint64_t)p->raw_blkaddr * ip->bsize, data,
		       full);
	}
	if (p->tail_len)
		memcpy(at + p->isize + p->xattr_size,
		       data + (p->data_size - p->tail_len), p->tail_len);
	free(data);
	return 0;
}

static size_t blob_table_offset(uint16_t nslots)
{
	return DEVT_SLOT_START + (size_t)nslots * EROFS_DEVT_SLOT_SIZE;
}

static size_t blob_table_size(const struct lading_bootstrap_params *prm)
{
	if (!prm->records || !prm->nslots)
		return 0;
	return sizeof(struct lading_blob_table_header) +
	       (size_t)prm->nslots * sizeof(struct lading_blob_record);
}

static void write_blob_table(const struct lading_bootstrap_params *prm,
			     uint8_t *img)
{
	struct lading_blob_table_header h = {
		.magic = lading_cpu_to_le64(LADING_BLOB_TABLE_MAGIC),
		.version = lading_cpu_to_le32(LADING_BLOB_TABLE_VERSION),
		.count = lading_cpu_to_le32(prm->nslots),
		.record_size = lading_cpu_to_le32(sizeof(struct lading_blob_record)),
	};
	uint8_t *at = img + blob_table_offset(prm->nslots);
	size_t rec_bytes = (size_t)prm->nslots * sizeof(*prm->records);

	if (!blob_table_size(prm))
		return;
	memcpy(at + sizeof(h), prm->records, rec_bytes);
	memcpy(at, &h, sizeof(h));
	h.crc = lading_cpu_to_le32(lading_crc32c(~0u, at, sizeof(h) + rec_bytes));
	memcpy(at, &h, sizeof(h));
}

static void write_superblock(const struct image_plan *ip, uint8_t *img)
{
	const struct lading_bootstrap_params *prm = ip->params;
	uint32_t incompat = (ip->has_chunked ? EROFS_INCOMPAT_CHUNKED_FILE : 0) |
			    (prm->nslots ? EROFS_INCOMPAT_DEVICE_TABLE : 0);
	struct erofs_super_block sb = {
		.magic = lading_cpu_to_le32(EROFS_SUPER_MAGIC),
		.feature_compat = lading_cpu_to_le32(EROFS_COMPAT_SB_CHKSUM |
						     EROFS_COMPAT_MTIME),
		.blkszbits = ip->bits,
		.rb.rootnid_2b = lading_cpu_to_le16(
			(uint16_t)plan_nid(ip, &ip->inodes[0])),
		.inos = lading_cpu_to_le64(ip->count),
		.epoch = lading_cpu_to_le64((uint64_t)ip->epoch),
		.blocks_lo = lading_cpu_to_le32(ip->total_blocks),
		.meta_blkaddr = lading_cpu_to_le32(ip->meta_blkaddr),
		.feature_incompat = lading_cpu_to_le32(incompat),
	};
	uint16_t i;

	memcpy(sb.uuid, prm->uuid, sizeof(sb.uuid));
	memcpy(sb.volume_name, prm->volume_name, sizeof(sb.volume_name));
	if (prm->nslots) {
		sb.extra_devices = lading_cpu_to_le16(prm->nslots);
		sb.devt_slotoff = lading_cpu_to_le16(
			DEVT_SLOT_START / EROFS_DEVT_SLOT_SIZE);
	}
	memcpy(img + EROFS_SUPER_OFFSET, &sb, sizeof(sb));
	for (i = 0; i < prm->nslots; i++) {
		struct erofs_deviceslot ds = {
			.blocks_lo = lading_cpu_to_le32((uint32_t)prm->slots[i].blocks),
			.blocks_hi = lading_cpu_to_le32(
				(uint16_t)(prm->slots[i].blocks >> 32)),
		};

		memcpy(ds.tag, prm->slots[i].tag, sizeof(ds.tag));
		memcpy(img + DEVT_SLOT_START + (size_t)i * sizeof(ds), &ds,
		       sizeof(ds));
	}
	write_blob_table(prm, img);
}

/* A name-based UUID: the image digest with the uuid field still zero. */
static int derive_uuid(uint8_t *img, size_t len)
{
	struct erofs_super_block *sb =
		(struct erofs_super_block *)(img + EROFS_SUPER_OFFSET);
	struct lading_digest d;
	int ret = lading_sha256(img, len, &d);

	if (ret)
		return ret;
	memcpy(sb->uuid, d.bytes, sizeof(sb->uuid));
	sb->uuid[6] = (uint8_t)((sb->uuid[6] & 0x0f) | 0x80);	/* version 8 */
	sb->uuid[8] = (uint8_t)((sb->uuid[8] & 0x3f) | 0x80);	/* RFC 4122 */
	return 0;
}

static void plan_free(struct image_plan *ip)
{
	size_t i;

	for (i = 0; i < ip->count; i++) {
		free(ip->inodes[i].xattr_body);
		free(ip->inodes[i].dirents);
		free(ip->inodes[i].targets);
	}
	free(ip->inodes);
}

static int plan_image(struct image_plan *ip, struct lading_tree *tree)
{
	struct lading_inode *root = lading_tree_root(tree);
	size_t i, devt_end;
	int ret;

	ret = lading_tree_sort(tree);
	if (!ret)
		ret = lading_tree_count_links(tree);
	root->scratch = 0;
	if (!ret)
		ret = lading_tree_visit(tree, reset_scratch, NULL);
	if (!ret)
		ret = plan_add(ip, root);	/* root first: nid 0 */
	if (!ret) {
		ip->inodes[0].parent = root;
		ret = lading_tree_visit(tree, collect_inode, ip);
	}
	if (ret)
		return ret;
	ret = pick_epoch(ip);
	for (i = 0; i < ip->count && !ret; i++) {
		struct inode_plan *p = &ip->inodes[i];

		if (S_ISDIR(p->ino->mode))
			ret = plan_dirents(ip, p);
		if (!ret)
			ret = plan_inode(ip, p);
	}
	if (ret)
		return ret;
	devt_end = blob_table_offset(ip->params->nslots) +
		   blob_table_size(ip->params);
	ip->meta_blkaddr = (uint32_t)((devt_end + ip->bsize - 1) /
				      ip->bsize);
	return place_inodes(ip);
}

int lading_bootstrap_write(struct lading_tree *tree,
		       const struct lading_bootstrap_params *params, int fd,
		       struct lading_bootstrap_stats *stats,
		       struct lading_error *err)
{
	struct image_plan ip = { .params = params, .err = err };
	struct erofs_super_block *sb;
	uint8_t *img = NULL;
	size_t len, i;
	int ret;

	memset(stats, 0, sizeof(*stats));
	ip.bits = params->blkszbits ? params->blkszbits : LADING_BLOCK_BITS;
	if (ip.bits != 9 && ip.bits != LADING_BLOCK_BITS)
		return lading_error_set(err, EINVAL, "invalid block size 2^%u",
					ip.bits);
	ip.bsize = 1u << ip.bits;
	if (!params->chunk_size || (params->chunk_size & (params->chunk_size - 1)) ||
	    params->chunk_size < ip.bsize)
		return lading_error_set(err, EINVAL, "invalid chunk size");
	ret = plan_image(&ip, tree);
	if (ret)
		goto out;
	len = (size_t)ip.total_blocks * ip.bsize;
	img = calloc(1, len);
	if (!img) {
		ret = -ENOMEM;
		goto out;
	}
	write_superblock(&ip, img);
	for (i = 0; i < ip.count && !ret; i++) {
		struct inode_plan *p = &ip.inodes[i];

		encode_inode(&ip, p, img + p->pos, (uint32_t)(i + 1));
		ret = write_payload(&ip, p, img);
		if (p->isize == sizeof(struct erofs_inode_compact))
			stats->compact_inodes++;
		else
			stats->extended_inodes++;
		if (p->layout != EROFS_INODE_CHUNK_BASED && !S_ISDIR(p->ino->mode))
			stats->inline_bytes += p->data_size;
	}
	if (ret)
		goto out;
	sb = (struct erofs_super_block *)(img + EROFS_SUPER_OFFSET);
	if (!params->uuid_set)
		ret = derive_uuid(img, len);
	if (ret)
		goto out;
	memcpy(stats->uuid, sb->uuid, sizeof(stats->uuid));
	erofs_superblock_set_checksum_bs(img, ip.bsize);
	ret = lading_sha256(img, len, &stats->digest);
	if (!ret)
		ret = lading_pwrite_full(fd, img, len, 0);
	if (ret) {
		lading_error_set(err, -ret, "writing bootstrap: %s", strerror(-ret));
		goto out;
	}
	stats->inodes = ip.count;
	stats->blocks = ip.total_blocks;
out:
	free(img);
	plan_free(&ip);
	return ret;
}
