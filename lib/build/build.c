// SPDX-License-Identifier: MIT
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lading/build.h>
#include <lading/tree.h>
#include <lading/build_options.h>
#include <lading/format.h>
#include <lading/source.h>
#include <lading/store.h>

void lading_build_params_init(struct lading_build_params *p)
{
	memset(p, 0, sizeof(*p));
	lading_build_options_init(&p->build);
}

static int check_params(const struct lading_build_params *p,
			struct lading_error *err)
{
	int ret = lading_build_options_check(&p->build, err);

	if (ret)
		return ret;
	if (!p->bootstrap || !p->source)
		return lading_error_set(err, EINVAL, "bootstrap and source needed");
	return 0;
}

static char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return strdup(s ? s + 1 : path);
}

/* Writes the bootstrap under a temporary name; the caller commits it. */
static int write_bootstrap(struct lading_tree *tree,
			   const struct lading_build_params *p,
			   struct lading_build_report *r,
			   struct lading_outfile *out, const char *dir,
			   struct lading_error *err)
{
	struct lading_image_slot slot;
	struct lading_blob_record rec;
	struct lading_bootstrap_params ip = {
		.chunk_size = p->build.chunk_size,
		.keep_nsec = p->build.policy.keep_nsec,
		.uuid_set = p->uuid_set,
	};
	int ret;

	memcpy(ip.uuid, p->uuid, sizeof(ip.uuid));
	memcpy(ip.volume_name, p->volume_name, sizeof(ip.volume_name));
	if (r->blob.present) {
		memcpy(slot.tag, r->blob.id, sizeof(slot.tag));
		slot.blocks = r->blob.uncompressed_size / LADING_BLOCK_SIZE;
		lading_blob_record_from_info(&rec, &r->blob);
		ip.slots = &slot;
		ip.nslots = 1;
		ip.records = &rec;
	}
	ret = lading_outfile_open(out, dir);
	if (ret)
		return lading_error_set(err, -ret, "%s: cannot create a file: %s",
					dir, strerror(-ret));
	ret = lading_bootstrap_write(tree, &ip, out->fd, &r->erofs, err);
	if (ret)
		return ret;
	r->bootstrap_size = r->erofs.blocks * LADING_BLOCK_SIZE;
	lading_digest_hex(&r->erofs.digest, r->bootstrap_digest);
	return 0;
}

static int publish(struct lading_store *store, struct lading_outfile *out,
		   const struct lading_build_params *p,
		   struct lading_build_report *r, struct lading_error *err)
{
	char *name = base_name(p->bootstrap);
	bool existed = false;
	int ret;

	if (!name)
		return -ENOMEM;
	ret = lading_store_publish(store, &r->blob, &existed);
	if (ret) {
		free(name);
		return lading_error_set(err, -ret, "%s: publishing blob: %s",
					r->blob_dir, strerror(-ret));
	}
	ret = lading_outfile_commit(out, name);
	if (ret) {
		/* leave no half result: the blob goes if we created it */
		if (r->blob.present && !existed) {
			char *bp = lading_path_join(r->blob_dir, r->blob.id);

			if (bp)
				unlink(bp);
			free(bp);
		}
		lading_error_set(err, -ret, "%s: %s", p->bootstrap, strerror(-ret));
	}
	free(name);
	return ret;
}

int lading_build(const struct lading_build_params *p,
		 struct lading_build_report *r, struct lading_error *err)
{
	struct lading_store_params sp = { 0 };
	struct lading_source_params src = {
		.path = p->source,
		.type = p->source_type,
		.log = p->log,
	};
	struct lading_outfile out = { .fd = -1 };
	struct lading_progress progress;
	struct lading_tree *tree = NULL;
	struct lading_store *store = NULL;
	char *boot_dir = NULL;
	struct stat st;
	int ret;

	memset(r, 0, sizeof(*r));
	lading_build_options_store(&p->build, &sp);
	lading_build_options_source(&p->build, &src);
	ret = check_params(p, err);
	if (ret)
		return ret;
	boot_dir = lading_path_dirname(p->bootstrap);
	if (!boot_dir)
		return lading_error_set(err, ENOMEM, "out of memory");
	snprintf(r->bootstrap, sizeof(r->bootstrap), "%s", p->bootstrap);
	snprintf(r->blob_dir, sizeof(r->blob_dir), "%s",
		 p->blob_dir ? p->blob_dir : boot_dir);
	if (stat(r->blob_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		ret = lading_error_set(err, errno ? errno : ENOTDIR,
				       "%s: blob directory not usable",
				       r->blob_dir);
		goto out;
	}
	sp.blob_dir = r->blob_dir;
	/* temporaries of an earlier run that was killed */
	lading_outfile_sweep(boot_dir);
	if (strcmp(boot_dir, r->blob_dir))
		lading_outfile_sweep(r->blob_dir);
	tree = lading_tree_new();
	ret = tree ? lading_store_open(&store, &sp) : -ENOMEM;
	if (ret) {
		lading_error_set(err, -ret, "cannot set up the store: %s",
				 strerror(-ret));
		goto out;
	}
	if (strcmp(p->source, "-") && stat(p->source, &st) == 0 &&
	    S_ISREG(st.st_mode))
		lading_progress_init(&progress, p->progress, "reading",
				     (uint64_t)st.st_size);
	else
		lading_progress_init(&progress, p->progress, "reading", 0);
	src.progress = &progress;
	ret = lading_source_load(tree, store, &src, &r->source, err);
	lading_progress_finish(&progress);
	if (ret)
		goto out;
	ret = lading_tree_apply_policy(tree, &p->build.policy);
	if (ret)
		goto out;

	ret = lading_store_finish(store, &r->blob);
	if (ret) {
		lading_error_set(err, -ret, "%s: writing blob: %s", r->blob_dir,
				 strerror(-ret));
		goto out;
	}
	r->store = *lading_store_stats(store);
	ret = write_bootstrap(tree, p, r, &out, boot_dir, err);
	/*
	 * Everything else is done before anything gets its final name: the
	 * tree goes first, so publishing is the very last step.
	 */
	lading_tree_free(tree);
	tree = NULL;
	if (!ret)
		ret = publish(store, &out, p, r, err);
out:
	lading_outfile_abort(&out);
	lading_store_free(store);
	lading_tree_free(tree);
	free(boot_dir);
	if (ret && !err->code)
		lading_error_set(err, -ret, "%s", strerror(-ret));
	return ret;
}
