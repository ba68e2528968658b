// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <lading/format.h>
#include <lading/store.h>

/*
 * New chunk bytes go through a ring buffer to a writer thread that hashes
 * the whole blob and write()s it, so the two sha256 passes (per-chunk for
 * dedup, whole-blob for the id) run on two cores.
 */
#define RING_SIZE (16u << 20)

struct dedup_entry {
	uint8_t digest[LADING_SHA256_LEN];
	uint32_t len;
	uint32_t blkaddr;
	bool used;
};

struct blob_ring {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	uint8_t *buf;
	uint64_t head, tail;	/* bytes produced / consumed */
	bool closing;
	int error;		/* negative errno from the writer */
};

struct lading_store {
	struct lading_store_params params;
	struct lading_store_stats stats;
	struct lading_outfile out;
	bool out_open;
	uint64_t blob_bytes;	/* bytes queued, always block aligned */

	struct dedup_entry *dedup;
	size_t dedup_slots, dedup_used;

	EVP_MD_CTX *chunk_md;
	EVP_MD_CTX *blob_md;

	uint8_t (*digests)[LADING_SHA256_LEN];	/* digest_only */
	uint32_t ndigests, digests_cap;

	struct blob_ring ring;
	pthread_t writer;
	bool writer_running;
};

bool lading_chunk_size_valid(uint64_t size)
{
	return size >= LADING_CHUNK_MIN && size <= LADING_CHUNK_MAX &&
	       (size & (size - 1)) == 0;
}

static void *blob_writer_main(void *arg)
{
	struct lading_store *s = arg;
	struct blob_ring *r = &s->ring;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		uint64_t avail, start;
		size_t n;
		int ret = 0;

		while (r->head == r->tail && !r->closing)
			pthread_cond_wait(&r->not_empty, &r->lock);
		if (r->head == r->tail)
			break;
		avail = r->head - r->tail;
		start = r->tail % RING_SIZE;
		n = (size_t)(avail < RING_SIZE - start ? avail : RING_SIZE - start);
		pthread_mutex_unlock(&r->lock);

		if (!r->error) {
			if (EVP_DigestUpdate(s->blob_md, r->buf + start, n) != 1)
				ret = -EIO;
			else
				ret = lading_write_full(s->out.fd, r->buf + start, n);
		}

		pthread_mutex_lock(&r->lock);
		if (ret && !r->error)
			r->error = ret;
		r->tail += n;
		pthread_cond_signal(&r->not_full);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static int ring_push(struct lading_store *s, const uint8_t *data, size_t len,
		     bool zeros)
{
	struct blob_ring *r = &s->ring;
	int ret;

	pthread_mutex_lock(&r->lock);
	while (len && !r->error) {
		uint64_t space, start;
		size_t n;

		while (r->head - r->tail == RING_SIZE && !r->error)
			pthread_cond_wait(&r->not_full, &r->lock);
		if (r->error)
			break;
		space = RING_SIZE - (r->head - r->tail);
		start = r->head % RING_SIZE;
		n = len;
		if (n > space)
			n = (size_t)space;
		if (n > RING_SIZE - start)
			n = (size_t)(RING_SIZE - start);
		/* the slot is ours until head moves: copy without the lock */
		pthread_mutex_unlock(&r->lock);
		if (zeros)
			memset(r->buf + start, 0, n);
		else
			memcpy(r->buf + start, data, n);
		pthread_mutex_lock(&r->lock);
		r->head += n;
		pthread_cond_signal(&r->not_empty);
		if (!zeros)
			data += n;
		len -= n;
	}
	ret = r->error;
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static int writer_start(struct lading_store *s)
{
	int ret;

	ret = lading_outfile_open(&s->out, s->params.blob_dir);
	if (ret)
		return ret;
	s->out_open = true;
	if (EVP_DigestInit_ex(s->blob_md, EVP_sha256(), NULL) != 1)
		return -EIO;
	ret = pthread_create(&s->writer, NULL, blob_writer_main, s);
	if (ret)
		return -ret;
	s->writer_running = true;
	return 0;
}

static int writer_stop(struct lading_store *s)
{
	struct blob_ring *r = &s->ring;

	if (!s->writer_running)
		return 0;
	pthread_mutex_lock(&r->lock);
	r->closing = true;
	pthread_cond_signal(&r->not_empty);
	pthread_mutex_unlock(&r->lock);
	pthread_join(s->writer, NULL);
	s->writer_running = false;
	return r->error;
}

int lading_store_open(struct lading_store **out,
		      const struct lading_store_params *params)
{
	struct lading_store *s;

	if (!lading_chunk_size_valid(params->chunk_size))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->ring.lock, NULL);
	pthread_cond_init(&s->ring.not_empty, NULL);
	pthread_cond_init(&s->ring.not_full, NULL);
	s->params = *params;
	if (!s->params.device_id)
		s->params.device_id = 1;
	s->out.fd = -1;
	s->chunk_md = EVP_MD_CTX_new();
	s->blob_md = EVP_MD_CTX_new();
	s->ring.buf = malloc(RING_SIZE);
	s->dedup_slots = 4096;
	s->dedup = calloc(s->dedup_slots, sizeof(*s->dedup));
	if (!s->chunk_md || !s->blob_md || !s->ring.buf || !s->dedup) {
		lading_store_free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

static size_t dedup_probe(const struct lading_store *s, const uint8_t *digest,
			  uint32_t len)
{
	uint64_t h;
	size_t j;

	memcpy(&h, digest, sizeof(h));
	j = (size_t)(h ^ len) & (s->dedup_slots - 1);
	while (s->dedup[j].used &&
	       (s->dedup[j].len != len ||
		memcmp(s->dedup[j].digest, digest, LADING_SHA256_LEN)))
		j = (j + 1) & (s->dedup_slots - 1);
	return j;
}

static int dedup_grow(struct lading_store *s)
{
	struct dedup_entry *old = s->dedup;
	size_t oldn = s->dedup_slots, i;

	s->dedup = calloc(oldn * 2, sizeof(*s->dedup));
	if (!s->dedup) {
		s->dedup = old;
		return -ENOMEM;
	}
	s->dedup_slots = oldn * 2;
	for (i = 0; i < oldn; i++)
		if (old[i].used)
			s->dedup[dedup_probe(s, old[i].digest, old[i].len)] =
				old[i];
	free(old);
	return 0;
}

static int digest_append(struct lading_store *s, const uint8_t *digest,
			 uint64_t *index)
{
	if (s->ndigests == s->digests_cap) {
		uint32_t cap = s->digests_cap ? s->digests_cap * 2 : 1024;
		void *n = realloc(s->digests, (size_t)cap * LADING_SHA256_LEN);

		if (!n)
			return -ENOMEM;
		s->digests = n;
		s->digests_cap = cap;
	}
	if (s->ndigests == EROFS_NULL_ADDR)
		return -EFBIG;
	memcpy(s->digests[s->ndigests], digest, LADING_SHA256_LEN);
	*index = s->ndigests++;
	return 0;
}

const uint8_t *lading_store_chunk_digest(const struct lading_store *s,
					 uint32_t index)
{
	return index < s->ndigests ? s->digests[index] : NULL;
}

void lading_store_add_hole(struct lading_store *s, size_t len,
			   struct lading_chunk_ref *ref)
{
	s->stats.chunks++;
	s->stats.chunks_hole++;
	s->stats.bytes_in += len;
	s->stats.bytes_hole += len;
	*ref = (struct lading_chunk_ref){ .blkaddr = LADING_CHUNK_HOLE };
}

int lading_store_add_chunk(struct lading_store *s, const uint8_t *data,
			   size_t len, struct lading_chunk_ref *ref)
{
	uint8_t digest[LADING_SHA256_LEN];
	unsigned int dlen;
	size_t slot, padded;
	uint64_t blkaddr;
	int ret;

	if (len == 0 || len > s->params.chunk_size)
		return -EINVAL;
	if (all_zero(data, len)) {
		lading_store_add_hole(s, len, ref);
		return 0;
	}
	if (EVP_DigestInit_ex(s->chunk_md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(s->chunk_md, data, len) != 1 ||
	    EVP_DigestFinal_ex(s->chunk_md, digest, &dlen) != 1)
		return -EIO;
	s->stats.chunks++;
	s->stats.bytes_in += len;

	slot = dedup_probe(s, digest, (uint32_t)len);
	if (s->dedup[slot].used) {
		s->stats.chunks_dedup++;
		s->stats.bytes_dedup += len;
		*ref = (struct lading_chunk_ref){
			.blkaddr = s->dedup[slot].blkaddr,
			.device_id = s->params.device_id,
		};
		return 0;
	}

	if (s->params.digest_only) {
		ret = digest_append(s, digest, &blkaddr);
		if (ret)
			return ret;
		goto remember;
	}
	blkaddr = s->blob_bytes >> LADING_BLOCK_BITS;
	padded = LADING_ALIGN_UP(len, (size_t)LADING_BLOCK_SIZE);
	/* 32-bit block addresses: a blob tops out just under 16 TiB */
	if (blkaddr + (padded >> LADING_BLOCK_BITS) >= EROFS_NULL_ADDR)
		return -EFBIG;
	if (!s->writer_running) {
		ret = writer_start(s);
		if (ret)
			return ret;
	}
	ret = ring_push(s, data, len, false);
	if (!ret && padded > len)
		ret = ring_push(s, NULL, padded - len, true);
	if (ret)
		return ret;
	s->blob_bytes += padded;
remember:
	s->stats.chunks_stored++;

	s->dedup[slot] = (struct dedup_entry){ .len = (uint32_t)len,
					       .blkaddr = (uint32_t)blkaddr,
					       .used = true };
	memcpy(s->dedup[slot].digest, digest, sizeof(digest));
	if (++s->dedup_used * 2 > s->dedup_slots) {
		ret = dedup_grow(s);
		if (ret)
			return ret;
	}
	*ref = (struct lading_chunk_ref){ .blkaddr = (uint32_t)blkaddr,
					  .device_id = s->params.device_id };
	return 0;
}

int lading_store_finish(struct lading_store *s, struct lading_blob_info *info)
{
	unsigned int dlen;
	int ret;

	memset(info, 0, sizeof(*info));
	if (!s->out_open)
		return 0;	/* no data: no blob */
	ret = writer_stop(s);
	if (ret)
		return ret;
	if (EVP_DigestFinal_ex(s->blob_md, info->digest, &dlen) != 1)
		return -EIO;
	lading_hex_encode(info->id, info->digest, LADING_SHA256_LEN);
	info->size = s->blob_bytes;
	if (fsync(s->out.fd) < 0)
		return -errno;
	info->present = true;
	return 0;
}

int lading_store_publish(struct lading_store *s, const struct lading_blob_info *info,
			 bool *existed)
{
	char *path;

	*existed = false;
	if (!info->present)
		return 0;
	path = lading_path_join(s->params.blob_dir, info->id);
	if (!path)
		return -ENOMEM;
	*existed = access(path, F_OK) == 0;
	free(path);
	return lading_outfile_commit(&s->out, info->id);
}

void lading_store_free(struct lading_store *s)
{
	if (!s)
		return;
	writer_stop(s);
	if (s->out_open)
		lading_outfile_abort(&s->out);
	pthread_mutex_destroy(&s->ring.lock);
	pthread_cond_destroy(&s->ring.not_empty);
	pthread_cond_destroy(&s->ring.not_full);
	EVP_MD_CTX_free(s->chunk_md);
	EVP_MD_CTX_free(s->blob_md);
	free(s->ring.buf);
	free(s->dedup);
	free(s->digests);
	free(s);
}

const struct lading_store_stats *lading_store_stats(const struct lading_store *s)
{
	return &s->stats;
}

uint32_t lading_store_chunk_size(const struct lading_store *s)
{
	return s->params.chunk_size;
}
