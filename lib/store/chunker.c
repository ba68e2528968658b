// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <lading/store.h>

int lading_chunker_init(struct lading_chunker *c, struct lading_store *s)
{
	memset(c, 0, sizeof(*c));
	c->store = s;
	c->buf = malloc(lading_store_chunk_size(s));
	return c->buf ? 0 : -ENOMEM;
}

void lading_chunker_release(struct lading_chunker *c)
{
	free(c->buf);
	free(c->refs);
	c->buf = NULL;
	c->refs = NULL;
}

static uint64_t chunk_count(const struct lading_chunker *c, uint64_t size)
{
	uint32_t cs = lading_store_chunk_size(c->store);

	return (size + cs - 1) / cs;
}

int lading_chunker_begin(struct lading_chunker *c, uint64_t size)
{
	uint64_t n = chunk_count(c, size);

	free(c->refs);
	c->refs = NULL;
	c->nrefs = 0;
	c->fill = 0;
	c->buf_all_hole = true;
	c->size = size;
	c->pos = 0;
	if (n > UINT32_MAX)
		return -EFBIG;
	if (n) {
		c->refs = calloc((size_t)n, sizeof(*c->refs));
		if (!c->refs)
			return -ENOMEM;
	}
	return 0;
}

/* The length of the chunk currently being filled. */
static size_t current_chunk_len(const struct lading_chunker *c)
{
	uint32_t cs = lading_store_chunk_size(c->store);
	uint64_t start = (uint64_t)c->nrefs * cs;
	uint64_t left = c->size - start;

	return left < cs ? (size_t)left : cs;
}

static int flush_chunk(struct lading_chunker *c)
{
	struct lading_chunk_ref *ref = &c->refs[c->nrefs];
	int ret = 0;

	if (c->buf_all_hole)
		lading_store_add_hole(c->store, c->fill, ref);
	else
		ret = lading_store_add_chunk_buf(c->store, &c->buf, c->fill, ref);
	if (ret)
		return ret;
	c->nrefs++;
	c->fill = 0;
	c->buf_all_hole = true;
	return 0;
}

static int maybe_flush(struct lading_chunker *c)
{
	if (c->fill && c->fill == current_chunk_len(c))
		return flush_chunk(c);
	return 0;
}

int lading_chunker_buffer(struct lading_chunker *c, uint8_t **ptr, size_t *room)
{
	if (c->pos >= c->size) {
		*room = 0;
		return -EIO;	/* more data than declared */
	}
	*ptr = c->buf + c->fill;
	*room = current_chunk_len(c) - c->fill;
	return 0;
}

int lading_chunker_commit(struct lading_chunker *c, size_t len)
{
	c->fill += len;
	c->pos += len;
	if (len)
		c->buf_all_hole = false;
	return maybe_flush(c);
}

int lading_chunker_write(struct lading_chunker *c, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		uint8_t *dst;
		size_t room;
		int ret = lading_chunker_buffer(c, &dst, &room);

		if (ret)
			return ret;
		if (room > len)
			room = len;
		memcpy(dst, p, room);
		ret = lading_chunker_commit(c, room);
		if (ret)
			return ret;
		p += room;
		len -= room;
	}
	return 0;
}

int lading_chunker_skip(struct lading_chunker *c, uint64_t len)
{
	if (len > c->size - c->pos)
		return -EIO;
	while (len) {
		size_t want = current_chunk_len(c) - c->fill;
		int ret;

		/* whole chunks of hole never touch the buffer */
		if (c->fill == 0 && len >= want) {
			lading_store_add_hole(c->store, want,
					      &c->refs[c->nrefs++]);
			c->pos += want;
			len -= want;
			continue;
		}
		if (want > len)
			want = (size_t)len;
		memset(c->buf + c->fill, 0, want);
		c->fill += want;
		c->pos += want;
		len -= want;
		ret = maybe_flush(c);
		if (ret)
			return ret;
	}
	return 0;
}

int lading_chunker_end(struct lading_chunker *c, struct lading_chunk_ref **refs,
		       uint32_t *nrefs)
{
	if (c->pos != c->size || c->fill)
		return -EIO;
	*refs = c->refs;
	*nrefs = c->nrefs;
	c->refs = NULL;
	c->nrefs = 0;
	return 0;
}
