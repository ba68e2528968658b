// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <lading/tree.h>
#include "check.h"

static void check_norm(const char *in, int want_len, const char *want)
{
	char buf[256];
	int n;

	snprintf(buf, sizeof(buf), "%s", in);
	n = lading_path_normalize(buf);
	CHECK_EQ_U64((long long)n, (long long)want_len);
	if (n >= 0 && want)
		CHECK(!strcmp(buf, want));
}

static void test_normalize(void)
{
	check_norm("a/b/c", 5, "a/b/c");
	check_norm("./a//b/./c/", 5, "a/b/c");
	check_norm("./", 0, "");
	check_norm(".", 0, "");
	check_norm("", 0, "");
	check_norm("..", -EINVAL, NULL);
	check_norm("a/../b", -EINVAL, NULL);
	check_norm("/etc/passwd", -EINVAL, NULL);
	check_norm("a/..b", 5, "a/..b");	/* not a parent reference */
	check_norm("...", 3, "...");
}

static void test_link_lookup(void)
{
	struct lading_tree *t = lading_tree_new();
	struct lading_inode *root = lading_tree_root(t), *dir, *f, *parent;
	const char *name;
	size_t nl;
	char nm[32];
	int i;

	dir = lading_inode_new(S_IFDIR | 0755);
	CHECK(!lading_tree_link(t, root, "d", 1, dir));
	lading_tree_inode_put(t, dir);
	/* many entries: the hash table must grow and keep finding them */
	for (i = 0; i < 20000; i++) {
		f = lading_inode_new(S_IFREG | 0644);
		snprintf(nm, sizeof(nm), "f%d", i);
		CHECK(!lading_tree_link(t, dir, nm, strlen(nm), f));
		lading_tree_inode_put(t, f);
	}
	CHECK_EQ_U64(dir->nchildren, 20000);
	CHECK(lading_tree_lookup(t, dir, "f12345", 6) != NULL);
	CHECK(lading_tree_lookup(t, root, "f12345", 6) == NULL);
	CHECK(lading_tree_link(t, dir, "f7", 2, dir) == -EEXIST);
	CHECK(!lading_tree_unlink(t, dir, "f7", 2));
	CHECK(lading_tree_lookup(t, dir, "f7", 2) == NULL);
	CHECK(lading_tree_unlink(t, dir, "f7", 2) == -ENOENT);
	CHECK(lading_tree_lookup_path(t, "d/f8") != NULL);
	CHECK(lading_tree_lookup_path(t, "d/f8/x") == NULL);
	CHECK(lading_tree_lookup_path(t, "") == root);

	/* implicit parents come from the template */
	{
		struct lading_inode tmpl = { .mode = S_IFDIR | 0700, .mtime = 42 };
		struct lading_inode *p;

		CHECK(!lading_tree_walk_parent(t, "x/y/z", &tmpl, &parent, &name, &nl));
		CHECK(nl == 1 && name[0] == 'z');
		p = lading_tree_lookup_path(t, "x/y");
		CHECK(p == parent);
		CHECK_EQ_U64(p->mode, S_IFDIR | 0700);
		CHECK_EQ_U64(p->mtime, 42);
		CHECK(lading_tree_walk_parent(t, "d/f8/q", &tmpl, &parent, &name,
					      &nl) == -ENOTDIR);
	}

	/* removing a directory drops its whole subtree from the index */
	CHECK(!lading_tree_unlink(t, root, "d", 1));
	CHECK(lading_tree_lookup_path(t, "d/f8") == NULL);
	lading_tree_free(t);
}

static int count_visit(struct lading_dentry *d, void *ud)
{
	(void)d;
	(*(int *)ud)++;
	return 0;
}

static void test_links_and_sort(void)
{
	struct lading_tree *t = lading_tree_new();
	struct lading_inode *root = lading_tree_root(t);
	struct lading_inode *a = lading_inode_new(S_IFDIR | 0755);
	struct lading_inode *b = lading_inode_new(S_IFDIR | 0755);
	struct lading_inode *f = lading_inode_new(S_IFREG | 0644);
	int n = 0;

	CHECK(!lading_tree_link(t, root, "b", 1, b));
	CHECK(!lading_tree_link(t, root, "a", 1, a));
	CHECK(!lading_tree_link(t, a, "f", 1, f));
	CHECK(!lading_tree_link(t, b, "g", 1, f));	/* hardlink across dirs */
	lading_tree_inode_put(t, a);
	lading_tree_inode_put(t, b);
	lading_tree_inode_put(t, f);
	lading_tree_sort(t);
	CHECK(!strcmp(root->children[0]->name, "a"));
	lading_tree_count_links(t);
	CHECK_EQ_U64(root->nlink, 4);
	CHECK_EQ_U64(f->nlink, 2);
	CHECK_EQ_U64(a->nlink, 2);
	lading_tree_visit(t, count_visit, &n);
	CHECK_EQ_U64(n, 4);
	CHECK(!lading_inode_set_xattr(f, "user.b", "1", 1));
	CHECK(!lading_inode_set_xattr(f, "user.a", "22", 2));
	CHECK(!lading_inode_set_xattr(f, "user.b", "333", 3));
	CHECK_EQ_U64(f->nxattrs, 2);
	lading_inode_sort_xattrs(f);
	CHECK(!strcmp(f->xattrs[0].name, "user.a"));
	CHECK_EQ_U64(f->xattrs[1].len, 3);
	lading_tree_free(t);
}

/*
 * A million levels (the call stack would need ~64 MiB to recurse): every
 * whole-tree pass, an opaque prune and the free run on heap stacks.
 */
static void test_deep(void)
{
	struct lading_tree *t = lading_tree_new();
	struct lading_inode *dir = lading_tree_root(t), *keep = NULL, *f;
	uint32_t i, depth = 1000000, n = 0;

	for (i = 0; i < depth; i++) {
		struct lading_inode *d = lading_inode_new(S_IFDIR | 0755);

		CHECK(d && !lading_tree_link(t, dir, "d", 1, d));
		lading_tree_inode_put(t, d);
		lading_tree_lookup(t, dir, "d", 1)->layer = 1;
		if (i == 10) {
			/* a file of layer 2 beside a layer-1 chain */
			f = lading_inode_new(S_IFREG | 0644);
			CHECK(f && !lading_tree_link(t, d, "f", 1, f));
			lading_tree_lookup(t, d, "f", 1)->layer = 2;
			keep = d;
			lading_tree_inode_put(t, f);
		}
		dir = d;
	}
	CHECK(!lading_tree_sort(t));
	CHECK(!lading_tree_count_links(t));
	CHECK(!lading_tree_visit(t, count_visit, &n));
	CHECK_EQ_U64(n, depth + 1);
	/* layer 2 makes level 10 opaque: its chain goes, the file stays */
	CHECK(!lading_tree_prune_layer(t, keep, 2));
	CHECK_EQ_U64(keep->nchildren, 1);
	CHECK(!strcmp(keep->children[0]->name, "f"));
	n = 0;
	CHECK(!lading_tree_visit(t, count_visit, &n));
	CHECK_EQ_U64(n, 12);
	/* a fresh chain, freed with the tree */
	for (dir = keep, i = 0; i < depth; i++) {
		struct lading_inode *d = lading_inode_new(S_IFDIR | 0755);

		CHECK(d && !lading_tree_link(t, dir, "e", 1, d));
		lading_tree_inode_put(t, d);
		dir = d;
	}
	lading_tree_free(t);
}

int main(void)
{
	test_normalize();
	test_link_lookup();
	test_links_and_sort();
	test_deep();
	return check_summary("tree");
}
