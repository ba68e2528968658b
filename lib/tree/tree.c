// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lading/ondisk.h>
#include <lading/tree.h>

/*
 * Dentries are found through one open-addressing table keyed by
 * (parent inode, name), so inserting into a 100 000-entry directory stays
 * O(1); each directory also keeps an array of its children for walking.
 */
#define TOMBSTONE ((struct lading_dentry *)1)

struct lading_tree {
	struct lading_inode *root;
	struct lading_dentry **slots;
	size_t nslots;		/* power of two */
	size_t used;		/* live + tombstones */
	size_t live;
};

static uint64_t dentry_hash(const struct lading_inode *dir, const char *name,
			    size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)(uintptr_t)dir;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

static bool dentry_matches(const struct lading_dentry *d,
			   const struct lading_inode *dir, const char *name,
			   size_t len)
{
	return d->parent == dir && d->namelen == len &&
	       memcmp(d->name, name, len) == 0;
}

static int table_grow(struct lading_tree *t)
{
	size_t n = t->nslots ? t->nslots * 2 : 1024, i;
	struct lading_dentry **slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	/* Shrinking back is never needed; rehash also drops tombstones. */
	while (t->live * 2 >= n) {
		n *= 2;
		free(slots);
		slots = calloc(n, sizeof(*slots));
		if (!slots)
			return -ENOMEM;
	}
	for (i = 0; i < t->nslots; i++) {
		struct lading_dentry *d = t->slots[i];
		size_t j;

		if (!d || d == TOMBSTONE)
			continue;
		j = dentry_hash(d->parent, d->name, d->namelen) & (n - 1);
		while (slots[j])
			j = (j + 1) & (n - 1);
		slots[j] = d;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = n;
	t->used = t->live;
	return 0;
}

static size_t *table_find(const struct lading_tree *t,
			  const struct lading_inode *dir, const char *name,
			  size_t len, size_t *pos)
{
	size_t j;

	if (!t->nslots)
		return NULL;
	j = dentry_hash(dir, name, len) & (t->nslots - 1);
	for (;;) {
		struct lading_dentry *d = t->slots[j];

		if (!d)
			return NULL;
		if (d != TOMBSTONE && dentry_matches(d, dir, name, len)) {
			*pos = j;
			return pos;
		}
		j = (j + 1) & (t->nslots - 1);
	}
}

static int table_insert(struct lading_tree *t, struct lading_dentry *d)
{
	size_t j;
	int ret;

	if ((t->used + 1) * 2 > t->nslots) {
		ret = table_grow(t);
		if (ret)
			return ret;
	}
	j = dentry_hash(d->parent, d->name, d->namelen) & (t->nslots - 1);
	while (t->slots[j] && t->slots[j] != TOMBSTONE)
		j = (j + 1) & (t->nslots - 1);
	if (!t->slots[j])
		t->used++;
	t->slots[j] = d;
	t->live++;
	return 0;
}

static void table_remove(struct lading_tree *t, struct lading_dentry *d)
{
	size_t pos;

	if (table_find(t, d->parent, d->name, d->namelen, &pos)) {
		t->slots[pos] = TOMBSTONE;
		t->live--;
	}
}

struct lading_inode *lading_inode_new(uint32_t mode)
{
	struct lading_inode *ino = calloc(1, sizeof(*ino));

	if (!ino)
		return NULL;
	ino->mode = mode;
	ino->refcount = 1;
	return ino;
}

/* Everything but the children, which inodes_release() has taken. */
static void inode_free_shallow(struct lading_inode *ino)
{
	uint32_t i;

	for (i = 0; i < ino->nxattrs; i++) {
		free(ino->xattrs[i].name);
		free(ino->xattrs[i].value);
	}
	free(ino->xattrs);
	free(ino->children);
	free(ino->symlink);
	free(ino->inline_data);
	free(ino->chunks);
	free(ino);
}

/*
 * Frees an inode whose last reference went, and every subtree that dies
 * with it.  Dying directories wait on a list threaded through ->dying
 * instead of on the call stack: a tree can be 100 000 levels deep.
 */
static void inodes_release(struct lading_tree *tree, struct lading_inode *ino)
{
	struct lading_inode *todo = ino;

	ino->dying = NULL;
	while (todo) {
		struct lading_inode *dir = todo;
		uint32_t i;

		todo = dir->dying;
		for (i = 0; i < dir->nchildren; i++) {
			struct lading_dentry *d = dir->children[i];
			struct lading_inode *child = d->inode;

			table_remove(tree, d);
			free(d);
			if (--child->refcount)
				continue;
			if (child->nchildren) {
				child->dying = todo;
				todo = child;
			} else {
				inode_free_shallow(child);
			}
		}
		inode_free_shallow(dir);
	}
}

void lading_tree_inode_put(struct lading_tree *tree, struct lading_inode *ino)
{
	if (ino && --ino->refcount == 0)
		inodes_release(tree, ino);
}

struct lading_tree *lading_tree_new(void)
{
	struct lading_tree *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->root = lading_inode_new(S_IFDIR | 0755);
	if (!t->root || table_grow(t)) {
		free(t->root);
		free(t);
		return NULL;
	}
	return t;
}

void lading_tree_free(struct lading_tree *tree)
{
	if (!tree)
		return;
	lading_tree_inode_put(tree, tree->root);
	free(tree->slots);
	free(tree);
}

struct lading_inode *lading_tree_root(const struct lading_tree *tree)
{
	return tree->root;
}

int lading_inode_set_xattr(struct lading_inode *ino, const char *name,
			   const void *value, uint32_t len)
{
	struct lading_xattr *x = NULL, *arr;
	uint8_t *v;
	uint32_t i;

	for (i = 0; i < ino->nxattrs; i++)
		if (!strcmp(ino->xattrs[i].name, name))
			x = &ino->xattrs[i];
	v = malloc(len ? len : 1);
	if (!v)
		return -ENOMEM;
	memcpy(v, value, len);
	if (x) {
		free(x->value);
		x->value = v;
		x->len = len;
		return 0;
	}
	arr = realloc(ino->xattrs, (ino->nxattrs + 1) * sizeof(*arr));
	if (!arr) {
		free(v);
		return -ENOMEM;
	}
	ino->xattrs = arr;
	x = &arr[ino->nxattrs];
	x->name = strdup(name);
	if (!x->name) {
		free(v);
		return -ENOMEM;
	}
	x->value = v;
	x->len = len;
	ino->nxattrs++;
	return 0;
}

static int xattr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct lading_xattr *)a)->name,
		      ((const struct lading_xattr *)b)->name);
}

void lading_inode_sort_xattrs(struct lading_inode *ino)
{
	if (ino->nxattrs > 1)
		qsort(ino->xattrs, ino->nxattrs, sizeof(*ino->xattrs),
		      xattr_cmp);
}

struct lading_dentry *lading_tree_lookup(const struct lading_tree *tree,
					 const struct lading_inode *dir,
					 const char *name, size_t len)
{
	size_t pos;

	if (!table_find(tree, dir, name, len, &pos))
		return NULL;
	return tree->slots[pos];
}

int lading_tree_link(struct lading_tree *tree, struct lading_inode *dir,
		     const char *name, size_t len, struct lading_inode *ino)
{
	struct lading_dentry *d;
	int ret;

	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	if (len == 0 || len > EROFS_NAME_LEN)
		return len ? -ENAMETOOLONG : -EINVAL;
	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return -EINVAL;
	if (lading_tree_lookup(tree, dir, name, len))
		return -EEXIST;
	if (dir->nchildren == dir->children_cap) {
		uint32_t cap = dir->children_cap ? dir->children_cap * 2 : 8;
		struct lading_dentry **c =
			realloc(dir->children, cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		dir->children = c;
		dir->children_cap = cap;
	}
	d = malloc(sizeof(*d) + len + 1);
	if (!d)
		return -ENOMEM;
	d->parent = dir;
	d->inode = ino;
	d->namelen = (uint16_t)len;
	d->flags = 0;
	d->layer = 0;
	memcpy(d->name, name, len);
	d->name[len] = '\0';
	ret = table_insert(tree, d);
	if (ret) {
		free(d);
		return ret;
	}
	dir->children[dir->nchildren++] = d;
	dir->children_sorted = false;
	ino->refcount++;
	return 0;
}

int lading_tree_unlink(struct lading_tree *tree, struct lading_inode *dir,
		       const char *name, size_t len)
{
	struct lading_dentry *d = lading_tree_lookup(tree, dir, name, len);
	uint32_t i;

	if (!d)
		return -ENOENT;
	table_remove(tree, d);
	for (i = 0; i < dir->nchildren; i++) {
		if (dir->children[i] == d) {
			/* keep order: sortedness survives a removal */
			memmove(&dir->children[i], &dir->children[i + 1],
				(dir->nchildren - i - 1) * sizeof(d));
			dir->nchildren--;
			break;
		}
	}
	lading_tree_inode_put(tree, d->inode);
	free(d);
	return 0;
}

/* A heap stack of directories for the walks below. */
struct dir_stack {
	struct dir_frame {
		struct lading_inode *dir;
		uint32_t next;
	} *f;
	size_t depth, cap;
};

static int dir_stack_push(struct dir_stack *s, struct lading_inode *dir)
{
	if (s->depth == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct dir_frame *f = realloc(s->f, cap * sizeof(*f));

		if (!f)
			return -ENOMEM;
		s->f = f;
		s->cap = cap;
	}
	s->f[s->depth++] = (struct dir_frame){ dir, 0 };
	return 0;
}

int lading_tree_prune_layer(struct lading_tree *tree, struct lading_inode *dir,
			    uint16_t layer)
{
	struct dir_stack s = { 0 };
	int ret = dir_stack_push(&s, dir);

	while (!ret && s.depth) {
		struct dir_frame *f = &s.f[s.depth - 1];
		struct lading_dentry *d;

		if (f->next >= f->dir->nchildren) {
			s.depth--;
			continue;
		}
		d = f->dir->children[f->next];
		if (d->layer != layer) {
			/* the array shifts down: next stays */
			lading_tree_unlink(tree, f->dir, d->name, d->namelen);
			continue;
		}
		f->next++;
		if (S_ISDIR(d->inode->mode) && d->inode->nchildren)
			ret = dir_stack_push(&s, d->inode);
	}
	free(s.f);
	return ret;
}

int lading_path_normalize(char *path)
{
	char *out = path;
	const char *p = path;

	if (*p == '/')
		return -EINVAL;
	while (*p) {
		const char *e = strchrnul(p, '/');
		size_t n = (size_t)(e - p);

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		if (n && !(n == 1 && p[0] == '.')) {
			if (out != path)
				*out++ = '/';
			memmove(out, p, n);
			out += n;
		}
		p = *e ? e + 1 : e;
	}
	*out = '\0';
	return (int)(out - path);
}

static int make_implicit_dir(struct lading_tree *tree, struct lading_inode *dir,
			     const char *name, size_t len,
			     const struct lading_inode *tmpl,
			     struct lading_inode **out)
{
	struct lading_inode *ino = lading_inode_new(S_IFDIR | (tmpl->mode & 07777));
	int ret;

	if (!ino)
		return -ENOMEM;
	ino->uid = tmpl->uid;
	ino->gid = tmpl->gid;
	ino->mtime = tmpl->mtime;
	ino->mtime_nsec = tmpl->mtime_nsec;
	ret = lading_tree_link(tree, dir, name, len, ino);
	lading_tree_inode_put(tree, ino);
	if (ret)
		return ret;
	*out = ino;
	return 0;
}

int lading_tree_walk_parent(struct lading_tree *tree, const char *path,
			    const struct lading_inode *dir_template,
			    struct lading_inode **parent, const char **name,
			    size_t *namelen)
{
	struct lading_inode *dir = tree->root;
	const char *p = path;

	for (;;) {
		const char *e = strchrnul(p, '/');
		size_t n = (size_t)(e - p);
		struct lading_dentry *d;
		int ret;

		if (!*e) {
			*parent = dir;
			*name = p;
			*namelen = n;
			return 0;
		}
		if (n > EROFS_NAME_LEN)
			return -ENAMETOOLONG;
		d = lading_tree_lookup(tree, dir, p, n);
		if (d) {
			if (!S_ISDIR(d->inode->mode))
				return -ENOTDIR;
			dir = d->inode;
		} else {
			ret = make_implicit_dir(tree, dir, p, n, dir_template,
						&dir);
			if (ret)
				return ret;
		}
		p = e + 1;
	}
}

struct lading_dentry *lading_tree_lookup_dentry(const struct lading_tree *tree,
						const char *path)
{
	struct lading_inode *dir = tree->root;
	struct lading_dentry *d = NULL;
	const char *p = path;

	while (*p) {
		const char *e = strchrnul(p, '/');

		if (!S_ISDIR(dir->mode))
			return NULL;
		d = lading_tree_lookup(tree, dir, p, (size_t)(e - p));
		if (!d)
			return NULL;
		dir = d->inode;
		p = *e ? e + 1 : e;
	}
	return d;
}

struct lading_inode *lading_tree_lookup_path(const struct lading_tree *tree,
					     const char *path)
{
	struct lading_dentry *d;

	if (!*path)
		return tree->root;
	d = lading_tree_lookup_dentry(tree, path);
	return d ? d->inode : NULL;
}

static int dentry_cmp(const void *a, const void *b)
{
	const struct lading_dentry *x = *(struct lading_dentry *const *)a;
	const struct lading_dentry *y = *(struct lading_dentry *const *)b;

	return erofs_name_cmp(x->name, x->namelen, y->name, y->namelen);
}

static int sort_one(struct lading_dentry *d, void *ud)
{
	struct lading_inode *ino = d->inode;

	(void)ud;
	if (S_ISDIR(ino->mode) && !ino->children_sorted) {
		if (ino->nchildren > 1)
			qsort(ino->children, ino->nchildren,
			      sizeof(*ino->children), dentry_cmp);
		ino->children_sorted = true;
	}
	return 0;
}

int lading_tree_sort(struct lading_tree *tree)
{
	/* the root has no dentry: sort it directly, then visit the rest */
	if (!tree->root->children_sorted && tree->root->nchildren > 1) {
		qsort(tree->root->children, tree->root->nchildren,
		      sizeof(*tree->root->children), dentry_cmp);
	}
	tree->root->children_sorted = true;
	return lading_tree_visit(tree, sort_one, NULL);
}

static int reset_links(struct lading_dentry *d, void *ud)
{
	(void)ud;
	d->inode->nlink = S_ISDIR(d->inode->mode) ? 2 : 0;
	return 0;
}

static int add_links(struct lading_dentry *d, void *ud)
{
	(void)ud;
	if (S_ISDIR(d->inode->mode))
		d->parent->nlink++;
	else
		d->inode->nlink++;
	return 0;
}

int lading_tree_count_links(struct lading_tree *tree)
{
	int ret;

	tree->root->nlink = 2;
	ret = lading_tree_visit(tree, reset_links, NULL);
	return ret ? ret : lading_tree_visit(tree, add_links, NULL);
}

/* Iterative so that deep trees cannot exhaust the stack. */
int lading_tree_visit(struct lading_tree *tree, lading_tree_visit_fn fn,
		      void *ud)
{
	struct dir_stack s = { 0 };
	int ret = dir_stack_push(&s, tree->root);

	while (!ret && s.depth) {
		struct dir_frame *f = &s.f[s.depth - 1];
		struct lading_dentry *d;

		if (f->next >= f->dir->nchildren) {
			s.depth--;
			continue;
		}
		d = f->dir->children[f->next++];
		ret = fn(d, ud);
		if (!ret && S_ISDIR(d->inode->mode) && d->inode->nchildren)
			ret = dir_stack_push(&s, d->inode);
	}
	free(s.f);
	return ret;
}

static void apply_policy(struct lading_inode *ino,
			 const struct lading_tree_policy *p)
{
	if (p->force_uid >= 0)
		ino->uid = (uint32_t)p->force_uid;
	if (p->force_gid >= 0)
		ino->gid = (uint32_t)p->force_gid;
	if (p->clamp_mtime && (ino->mtime > p->mtime ||
			       (ino->mtime == p->mtime && ino->mtime_nsec))) {
		ino->mtime = p->mtime;
		ino->mtime_nsec = 0;
	}
	if (!p->keep_nsec)
		ino->mtime_nsec = 0;
}

static int policy_visit(struct lading_dentry *d, void *ud)
{
	/* hardlinked inodes are visited more than once: idempotent */
	apply_policy(d->inode, ud);
	return 0;
}

int lading_tree_apply_policy(struct lading_tree *tree,
			     const struct lading_tree_policy *policy)
{
	apply_policy(tree->root, policy);
	return lading_tree_visit(tree, policy_visit, (void *)policy);
}

/* ---- xattr values the kernel takes ------------------------------------ */

/*
 * A POSIX ACL value the kernel takes (posix_acl_from_xattr, then
 * posix_acl_valid): version 2, 8-byte entries in the order owner, named
 * users, owning group, named groups, mask (required with named entries),
 * other; permissions rwx only; no id -1.  NULL when valid.
 */
static const char *acl_problem(const uint8_t *val, size_t len, bool dir,
			       bool dflt)
{
	enum { U_OBJ = 1, USER = 2, G_OBJ = 4, GROUP = 8, MASK = 0x10,
	       OTHER = 0x20 };
	int state = U_OBJ;
	bool needs_mask = false;
	uint32_t version;
	size_t i;

	if (len < 4 || (len - 4) % 8)
		return "is not a header and 8-byte entries";
	version = lading_get_le32(val);	/* the kernel's form is little-endian */
	if (version != 2)
		return "has a version other than 2";
	if (dflt && !dir && len > 4)
		return "is a default ACL on a non-directory";
	for (i = 4; i < len; i += 8) {
		uint16_t tag = lading_get_le16(val + i);
		uint16_t perm = lading_get_le16(val + i + 2);
		uint32_t id = lading_get_le32(val + i + 4);

		if (perm & ~7u)
			return "has permission bits beyond rwx";
		if ((tag == USER || tag == GROUP) && id == UINT32_MAX)
			return "names id -1";
		if (tag == U_OBJ && state == U_OBJ)
			state = USER;
		else if (tag == USER && state == USER)
			needs_mask = true;
		else if (tag == G_OBJ && state == USER)
			state = GROUP;
		else if (tag == GROUP && state == GROUP)
			needs_mask = true;
		else if (tag == MASK && state == GROUP)
			state = OTHER;
		else if (tag == OTHER && (state == OTHER ||
					  (state == GROUP && !needs_mask)))
			state = 0;
		else
			return "has entries out of order, repeated or unknown";
	}
	if (len > 4 && state != 0)
		return "lacks the owner, group, other or mask entry";
	return NULL;
}

/* What setxattr(2) takes for security.capability (cap_convert_nscap). */
static const char *caps_problem(const uint8_t *val, size_t len)
{
	uint32_t magic, rootid;

	if (len != 20 && len != 24)
		return "is neither a v2 (20 bytes) nor a v3 (24 bytes) capability set";
	magic = lading_get_le32(val);	/* struct vfs_ns_cap_data: __le32 */
	magic &= ~1u;			/* VFS_CAP_FLAGS_EFFECTIVE */
	if (magic != (len == 20 ? 0x02000000u : 0x03000000u))
		return "has a revision that does not match its size";
	if (len == 24) {
		rootid = lading_get_le32(val + 20);
		if (rootid == UINT32_MAX)
			return "names root id -1";
	}
	return NULL;
}

/*
 * Why setxattr(2) would refuse the value (so an extract could not set
 * it), or NULL.  mkimage refuses such a value and verify rejects it.
 */
const char *lading_xattr_value_problem(const char *name, const void *value,
				       size_t len, bool dir)
{
	if (!strcmp(name, "system.posix_acl_access"))
		return acl_problem(value, len, dir, false);
	if (!strcmp(name, "system.posix_acl_default"))
		return acl_problem(value, len, dir, true);
	if (!strcmp(name, "security.capability"))
		return caps_problem(value, len);
	return NULL;
}
