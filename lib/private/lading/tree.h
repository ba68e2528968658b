/* SPDX-License-Identifier: MIT */
/*
 * The in-memory filesystem tree every source fills and every writer reads:
 * inodes (shared by hardlinks), dentries, xattrs, and where each regular
 * file's bytes live (inline in the bootstrap or as chunk references).
 */
#ifndef LADING_TREE_H
#define LADING_TREE_H

#include <lading/types.h>
#include <lading/util.h>

/* Where one chunk of a regular file lives; blkaddr == NULL_ADDR: a hole. */
struct lading_chunk_ref {
	uint32_t blkaddr;	/* 4 KiB block in the blob */
	uint16_t device_id;	/* 1-based blob slot; 0 for holes */
	uint16_t reserved;
};
#define LADING_CHUNK_HOLE 0xffffffffu

struct lading_xattr {
	char *name;		/* full name, e.g. "user.foo" */
	uint8_t *value;
	uint32_t len;
};

struct lading_dentry;

struct lading_inode {
	uint32_t mode;		/* type and permission bits (st_mode) */
	uint32_t uid, gid;
	int64_t mtime;
	uint32_t mtime_nsec;
	uint64_t size;		/* regular files and symlinks */
	uint32_t rdev_major, rdev_minor;
	uint32_t refcount;	/* dentries + other owners */

	char *symlink;		/* target, NUL-terminated */
	struct lading_xattr *xattrs;
	uint32_t nxattrs;

	/* regular files: either inline bytes or chunk references */
	uint8_t *inline_data;
	struct lading_chunk_ref *chunks;
	uint32_t nchunks;

	/* directories */
	struct lading_dentry **children;
	uint32_t nchildren, children_cap;
	bool children_sorted;

	/* scratch for writers; never read across calls */
	uint32_t scratch;
	uint32_t nlink;		/* computed by lading_tree_count_links() */
	struct lading_inode *dying;	/* tree.c: next directory to free */
};

#define LADING_DENTRY_SEEN 0x1	/* scratch mark for walkers */

struct lading_dentry {
	struct lading_inode *parent;
	struct lading_inode *inode;
	uint16_t namelen;
	uint16_t flags;
	uint16_t layer;		/* image layer whose tar listed it (0: none) */
	char name[];		/* NUL-terminated too, for convenience */
};

struct lading_tree;

struct lading_tree *lading_tree_new(void);
void lading_tree_free(struct lading_tree *tree);
struct lading_inode *lading_tree_root(const struct lading_tree *tree);

/* A fresh inode with refcount 1 (the caller's reference). */
struct lading_inode *lading_inode_new(uint32_t mode);
/* Drops one reference; frees the inode (and a directory's subtree). */
void lading_tree_inode_put(struct lading_tree *tree, struct lading_inode *ino);

/* Sets (replacing) an xattr; copies name and value. */
int lading_inode_set_xattr(struct lading_inode *ino, const char *name,
			   const void *value, uint32_t len);
/*
 * Why setxattr(2) would refuse this value on an inode (a malformed POSIX
 * ACL, a default ACL on a non-directory, a capability set neither v2 nor
 * v3), or NULL: an image holds only values an extract can set.
 */
const char *lading_xattr_value_problem(const char *name, const void *value,
				       size_t len, bool dir);
/* Sorts xattrs by name so writers are deterministic. */
void lading_inode_sort_xattrs(struct lading_inode *ino);

struct lading_dentry *lading_tree_lookup(const struct lading_tree *tree,
					 const struct lading_inode *dir,
					 const char *name, size_t len);
/*
 * Adds name -> inode in dir, taking a new reference on inode.
 * -EEXIST if the name is taken, -ENAMETOOLONG past 255 bytes.
 */
int lading_tree_link(struct lading_tree *tree, struct lading_inode *dir,
		     const char *name, size_t len, struct lading_inode *ino);
/* Removes the name (and, with the last reference, a directory subtree). */
int lading_tree_unlink(struct lading_tree *tree, struct lading_inode *dir,
		       const char *name, size_t len);
/*
 * Removes, anywhere under dir, every dentry whose ->layer is not 'layer'
 * (an opaque whiteout of that layer).  0 or -ENOMEM.
 */
int lading_tree_prune_layer(struct lading_tree *tree, struct lading_inode *dir,
			    uint16_t layer);

/*
 * Normalises a relative archive path in place: drops "./", "." and empty
 * components and a leading "/"-free form; rejects ".." and absolute paths.
 * Returns the new length (0 means the root), or -EINVAL.
 */
int lading_path_normalize(char *path);

/*
 * Walks 'path' (normalised) to its parent directory, creating missing
 * directories from 'dir_template' (mode, owner, mtime).  On success
 * *parent is the directory and *name and *namelen the last component.
 * -ENOTDIR if a non-directory sits in the way.
 */
int lading_tree_walk_parent(struct lading_tree *tree, const char *path,
			    const struct lading_inode *dir_template,
			    struct lading_inode **parent, const char **name,
			    size_t *namelen);
/* The dentry of a normalised non-root path; NULL if absent. */
struct lading_dentry *lading_tree_lookup_dentry(const struct lading_tree *tree,
						const char *path);
/* Looks a normalised path up; NULL if absent ("" is the root). */
struct lading_inode *lading_tree_lookup_path(const struct lading_tree *tree,
					     const char *path);

/*
 * The whole-tree passes below walk with a heap stack (trees may be far
 * deeper than the call stack allows); each returns 0 or -ENOMEM.
 */
/* Sorts every directory's children by EROFS name order. */
int lading_tree_sort(struct lading_tree *tree);
/* Computes nlink for every inode (dirs: 2 + subdirs; others: # dentries). */
int lading_tree_count_links(struct lading_tree *tree);

/* Ownership and time policy of a build, applied once the tree is whole. */

int lading_tree_apply_policy(struct lading_tree *tree,
			     const struct lading_tree_policy *policy);

/* Depth-first pre-order visit of every dentry (sorted if sorted before). */
typedef int (*lading_tree_visit_fn)(struct lading_dentry *d, void *ud);
int lading_tree_visit(struct lading_tree *tree, lading_tree_visit_fn fn,
		      void *ud);

#endif
