// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lading/format.h>
#include "internal.h"

int file_sink_begin(struct file_sink *fs, struct source_ctx *ctx,
		    struct lading_inode *ino, uint64_t size)
{
	fs->ctx = ctx;
	fs->ino = ino;
	fs->pos = 0;
	ino->size = size;
	fs->is_inline = size <= ctx->params->inline_max;
	ctx->stats->bytes += size;
	if (fs->is_inline) {
		if (!size)
			return 0;
		ino->inline_data = calloc(1, (size_t)size);
		if (!ino->inline_data)
			return -ENOMEM;
		ctx->stats->inline_files++;
		return 0;
	}
	return lading_chunker_begin(&ctx->chunker, size);
}

static void sink_progress(struct file_sink *fs, size_t len)
{
	fs->ctx->bytes_done += len;
	if (!fs->ctx->progress_by_input)
		lading_progress_update(fs->ctx->params->progress,
				       fs->ctx->bytes_done, NULL);
}

int file_sink_data(struct file_sink *fs, uint64_t off, const void *data,
		   size_t len)
{
	int ret;

	if (off < fs->pos || off > fs->ino->size ||
	    len > fs->ino->size - off)
		return -EIO;
	if (fs->is_inline) {
		if (len)
			memcpy(fs->ino->inline_data + off, data, len);
		fs->pos = off + len;
		return 0;
	}
	if (off > fs->pos) {
		ret = lading_chunker_skip(&fs->ctx->chunker, off - fs->pos);
		if (ret)
			return ret;
	}
	ret = len ? lading_chunker_write(&fs->ctx->chunker, data, len) : 0;
	if (ret)
		return ret;
	fs->pos = off + len;
	sink_progress(fs, len);
	return 0;
}

int file_sink_buffer(struct file_sink *fs, uint8_t **ptr, size_t *room)
{
	if (fs->is_inline) {
		*ptr = fs->ino->inline_data + fs->pos;
		*room = (size_t)(fs->ino->size - fs->pos);
		return 0;
	}
	return lading_chunker_buffer(&fs->ctx->chunker, ptr, room);
}

int file_sink_commit(struct file_sink *fs, size_t len)
{
	fs->pos += len;
	if (fs->is_inline)
		return 0;
	sink_progress(fs, len);
	return lading_chunker_commit(&fs->ctx->chunker, len);
}

int file_sink_end(struct file_sink *fs)
{
	struct lading_inode *ino = fs->ino;
	int ret;

	if (fs->is_inline)
		return 0;	/* a short inline file keeps zeros: a tail hole */
	if (fs->pos < ino->size) {
		ret = lading_chunker_skip(&fs->ctx->chunker, ino->size - fs->pos);
		if (ret)
			return ret;
		fs->pos = ino->size;
	}
	return lading_chunker_end(&fs->ctx->chunker, &ino->chunks,
				  &ino->nchunks);
}

int source_add_xattr(struct source_ctx *ctx, struct lading_inode *ino,
		     const char *name, const void *value, size_t len,
		     const char *file, const char *where)
{
	const char *suffix, *why;
	uint8_t index;

	if (erofs_xattr_split_name(name, &index, &suffix) ||
	    strlen(suffix) > 255 || len > 65535) {
		lading_log_msg(ctx->params->log, LADING_LOG_WARN,
			       "%s: skipping xattr '%s' (not storable in EROFS)",
			       where, name);
		ctx->stats->xattrs_skipped++;
		return 0;
	}
	why = lading_xattr_value_problem(name, value, len, S_ISDIR(ino->mode));
	if (why && file)
		return lading_error_set(ctx->err, EINVAL, "%s: entry '%s': xattr "
					"%s %s", file, where, name, why);
	if (why)
		return lading_error_set(ctx->err, EINVAL, "%s: xattr %s %s", where,
					name, why);
	return lading_inode_set_xattr(ino, name, value, (uint32_t)len);
}

void source_count_type(struct source_ctx *ctx, uint32_t mode)
{
	struct lading_source_stats *s = ctx->stats;

	switch (mode & S_IFMT) {
	case S_IFREG: s->regular++; break;
	case S_IFDIR: s->directories++; break;
	case S_IFLNK: s->symlinks++; break;
	case S_IFCHR: case S_IFBLK: s->devices++; break;
	case S_IFIFO: s->fifos++; break;
	case S_IFSOCK: s->sockets++; break;
	}
}

int lading_source_load(struct lading_tree *tree, struct lading_store *store,
		       const struct lading_source_params *params,
		       struct lading_source_stats *stats,
		       struct lading_error *err)
{
	struct source_ctx ctx = {
		.tree = tree, .store = store, .params = params,
		.stats = stats, .err = err,
	};
	enum lading_source_type type = params->type;
	struct stat st;
	int ret;

	memset(stats, 0, sizeof(*stats));
	if (params->read)
		type = LADING_SOURCE_TAR;
	if (type == LADING_SOURCE_AUTO) {
		if (strcmp(params->path, "-") && stat(params->path, &st) < 0)
			return lading_error_set(err, errno, "%s: %s", params->path,
						strerror(errno));
		type = strcmp(params->path, "-") && S_ISDIR(st.st_mode) ?
			LADING_SOURCE_DIR : LADING_SOURCE_TAR;
	}
	if (!store != !!params->in_place_device)
		return lading_error_set(err, EINVAL, "internal: a store or in place");
	ret = store ? lading_chunker_init(&ctx.chunker, store) : 0;
	if (ret)
		return lading_error_set(err, -ret, "out of memory");
	ret = type == LADING_SOURCE_DIR ? source_load_dir(&ctx) :
					  source_load_tar(&ctx);
	lading_chunker_release(&ctx.chunker);
	return ret;
}

static const struct lading_enum_name source_type_names[] = {
	{ LADING_SOURCE_AUTO, "auto" },
	{ LADING_SOURCE_DIR, "dir" },
	{ LADING_SOURCE_TAR, "tar" },
	{ 0, NULL },
};

int lading_source_type_parse(const char *s, enum lading_source_type *type)
{
	int v, ret = lading_enum_parse(source_type_names, s, &v);

	if (!ret)
		*type = (enum lading_source_type)v;
	return ret;
}
