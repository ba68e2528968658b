// SPDX-License-Identifier: MIT
/* The build options: their defaults and bounds, defined here only. */
#include <errno.h>
#include <string.h>
#include <lading/build.h>
#include <lading/build_options.h>
#include <lading/format.h>
#include <lading/source.h>
#include <lading/store.h>
#include <lading/tree.h>

void lading_build_options_init(struct lading_build_options *o)
{
	memset(o, 0, sizeof(*o));
	o->chunk_size = LADING_CHUNK_DEFAULT;
	o->inline_max = LADING_INLINE_DEFAULT;
	o->codec = LADING_CODEC_NONE;
	o->level = -1;
	o->policy.force_uid = -1;
	o->policy.force_gid = -1;
}

int lading_build_options_check(const struct lading_build_options *o,
			       struct lading_error *err)
{
	if (!lading_chunk_size_valid(o->chunk_size))
		return lading_error_set(err, EINVAL,
			"chunk size %u is not a power of two in 4K..64M",
			o->chunk_size);
	if (o->inline_max > LADING_INLINE_MAX)
		return lading_error_set(err, EINVAL,
			"inline limit %u exceeds %u bytes", o->inline_max,
			LADING_INLINE_MAX);
	return 0;
}

void lading_build_options_store(const struct lading_build_options *o,
				struct lading_store_params *sp)
{
	sp->chunk_size = o->chunk_size;
	sp->codec = o->codec;
	sp->level = o->level;
}

void lading_build_options_source(const struct lading_build_options *o,
				 struct lading_source_params *src)
{
	src->inline_max = o->inline_max;
	src->implicit_dir_mode = LADING_IMPLICIT_DIR_MODE;
	src->implicit_mtime = o->policy.clamp_mtime ? o->policy.mtime : 0;
}
