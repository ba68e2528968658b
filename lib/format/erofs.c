// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <lading/format.h>

void erofs_superblock_set_checksum(uint8_t *block0)
{
	erofs_superblock_set_checksum_bs(block0, LADING_BLOCK_SIZE);
}

/*
 * The checksum covers the superblock's block from byte 1024 on; with
 * blocks of 1 KiB or less, one block's worth from 1024 (erofs-utils'
 * erofs_superblock_csum_verify, the kernel's the same).
 */
void erofs_superblock_set_checksum_bs(uint8_t *block0, uint32_t blksz)
{
	struct erofs_super_block *sb =
		(struct erofs_super_block *)(block0 + EROFS_SUPER_OFFSET);
	uint32_t crc;

	sb->feature_compat = lading_cpu_to_le32(
		lading_le32_to_cpu(sb->feature_compat) | EROFS_COMPAT_SB_CHKSUM);
	sb->checksum = lading_cpu_to_le32(0);
	crc = lading_crc32c(~0u, block0 + EROFS_SUPER_OFFSET,
			    blksz > EROFS_SUPER_OFFSET ? blksz - EROFS_SUPER_OFFSET :
							 blksz);
	sb->checksum = lading_cpu_to_le32(crc);
}

uint32_t erofs_encode_dev(uint32_t major, uint32_t minor)
{
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

void erofs_decode_dev(uint32_t dev, uint32_t *major, uint32_t *minor)
{
	*major = (dev & 0xfff00) >> 8;
	*minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
}

enum erofs_file_type erofs_file_type_of(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return EROFS_FT_REG_FILE;
	case S_IFDIR: return EROFS_FT_DIR;
	case S_IFCHR: return EROFS_FT_CHRDEV;
	case S_IFBLK: return EROFS_FT_BLKDEV;
	case S_IFIFO: return EROFS_FT_FIFO;
	case S_IFSOCK: return EROFS_FT_SOCK;
	case S_IFLNK: return EROFS_FT_SYMLINK;
	default: return EROFS_FT_UNKNOWN;
	}
}

static const struct {
	uint8_t index;
	const char *prefix;
	bool exact;	/* the whole name, stored with an empty suffix */
} xattr_prefixes[] = {
	{ EROFS_XATTR_INDEX_USER, "user.", false },
	{ EROFS_XATTR_INDEX_POSIX_ACL_ACCESS, "system.posix_acl_access", true },
	{ EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT, "system.posix_acl_default", true },
	{ EROFS_XATTR_INDEX_TRUSTED, "trusted.", false },
	{ EROFS_XATTR_INDEX_SECURITY, "security.", false },
};

int erofs_xattr_split_name(const char *name, uint8_t *index,
			   const char **suffix)
{
	size_t i;

	for (i = 0; i < LADING_ARRAY_SIZE(xattr_prefixes); i++) {
		const char *p = xattr_prefixes[i].prefix;
		size_t pl = strlen(p);

		if (xattr_prefixes[i].exact ? strcmp(name, p) != 0 :
					      strncmp(name, p, pl) != 0)
			continue;
		/* "user." alone names nothing. */
		if (!xattr_prefixes[i].exact && name[pl] == '\0')
			return -EINVAL;
		*index = xattr_prefixes[i].index;
		*suffix = name + pl;
		return 0;
	}
	return -EOPNOTSUPP;
}

const char *erofs_xattr_prefix(uint8_t index)
{
	size_t i;

	for (i = 0; i < LADING_ARRAY_SIZE(xattr_prefixes); i++)
		if (xattr_prefixes[i].index == index)
			return xattr_prefixes[i].prefix;
	return NULL;
}

void erofs_chunk_index_encode(struct erofs_inode_chunk_index *idx,
			      uint16_t device_id, uint32_t blkaddr)
{
	if (blkaddr == EROFS_NULL_ADDR) {
		/* all-ones address; older kernels only look at the low word */
		idx->startblk_hi = lading_cpu_to_le16(0xffff);
		idx->device_id = lading_cpu_to_le16(0);
		idx->startblk_lo = lading_cpu_to_le32(EROFS_NULL_ADDR);
		return;
	}
	idx->startblk_hi = lading_cpu_to_le16(0);
	idx->device_id = lading_cpu_to_le16(device_id);
	idx->startblk_lo = lading_cpu_to_le32(blkaddr);
}

size_t erofs_dirblock_fit(const struct erofs_dirent_in *ents, size_t count,
			  size_t *used)
{
	return erofs_dirblock_fit_bs(ents, count, used, LADING_BLOCK_SIZE);
}

size_t erofs_dirblock_fit_bs(const struct erofs_dirent_in *ents, size_t count,
			     size_t *used, uint32_t blksz)
{
	size_t n = 0, bytes = 0;

	while (n < count) {
		size_t need = sizeof(struct erofs_dirent) + ents[n].namelen;

		if (bytes + need > blksz)
			break;
		bytes += need;
		n++;
	}
	*used = bytes;
	return n;
}

void erofs_dirblock_encode(uint8_t *blk, const struct erofs_dirent_in *ents,
			   size_t n)
{
	erofs_dirblock_encode_bs(blk, ents, n, LADING_BLOCK_SIZE);
}

void erofs_dirblock_encode_bs(uint8_t *blk, const struct erofs_dirent_in *ents,
			      size_t n, uint32_t blksz)
{
	size_t nameoff = n * sizeof(struct erofs_dirent), i;

	memset(blk, 0, blksz);
	for (i = 0; i < n; i++) {
		struct erofs_dirent de = {
			.nid = lading_cpu_to_le64(ents[i].nid),
			.nameoff = lading_cpu_to_le16((uint16_t)nameoff),
			.file_type = ents[i].file_type,
		};

		memcpy(blk + i * sizeof(de), &de, sizeof(de));
		memcpy(blk + nameoff, ents[i].name, ents[i].namelen);
		nameoff += ents[i].namelen;
	}
}
