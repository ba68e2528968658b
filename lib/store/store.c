// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lading/store.h>

/*
 * New chunks go through a bounded queue to a writer thread that
 * compresses them (if asked), appends them to the artifact, hashes the
 * whole artifact and records the ToC, so per-chunk hashing for dedup and
 * the writer's work run on two cores.
 */
#define QUEUE_BYTES (16u << 20)
/*
 * Writeback of the artifact is started every WRITEBACK_BYTES, so the
 * device writes while we hash and the final fsync() finds little left to
 * do instead of the whole blob.
 */
#define WRITEBACK_BYTES (32u << 20)

struct chunk_job {
	uint8_t *data;		/* chunk_size bytes, owned by the queue */
	uint32_t len;
	uint64_t uoff;
	uint8_t digest[LADING_SHA256_LEN];
};

struct job_queue {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	struct chunk_job *jobs;
	size_t nslots;
	uint64_t head, tail;	/* jobs queued / done */
	bool closing;
	int error;		/* negative errno from the writer */
};

struct lading_store {
	struct lading_store_params params;
	struct lading_store_stats stats;
	struct lading_outfile out;
	bool out_open;
	uint64_t blob_bytes;	/* uncompressed view size, block aligned */
	uint64_t artifact_bytes;	/* written by the writer thread */
	uint64_t writeback_from;	/* artifact bytes not yet sent to writeback */
	uint8_t *cbuf;		/* compression scratch (writer thread) */
	size_t cbuf_size;
	struct lading_toc_entry *toc;	/* writer thread */
	size_t ntoc, toc_cap;

	struct lading_dedup *dedup;
	bool own_dedup;
	uint16_t device_id;	/* assigned with the first stored chunk */

	struct lading_sha256_ctx blob_md;	/* of the whole artifact */

	uint8_t (*digests)[LADING_SHA256_LEN];	/* digest_only */
	uint32_t ndigests, digests_cap;

	struct job_queue q;
	pthread_t writer;
	bool writer_running;
};

bool lading_chunk_size_valid(uint64_t size)
{
	return size >= LADING_CHUNK_MIN && size <= LADING_CHUNK_MAX &&
	       (size & (size - 1)) == 0;
}

static const uint8_t zero_block[LADING_BLOCK_SIZE];

static int artifact_append(struct lading_store *s, const void *buf, size_t len)
{
	if (lading_sha256_update(&s->blob_md, buf, len))
		return -EIO;
	s->artifact_bytes += len;
	return lading_write_full(s->out.fd, buf, len);
}

/* Only starts I/O (no wait); errors surface in the final fsync(). */
static void start_writeback(struct lading_store *s)
{
	uint64_t len = s->artifact_bytes - s->writeback_from;

	if (len < WRITEBACK_BYTES)
		return;
	(void)sync_file_range(s->out.fd, (off_t)s->writeback_from, (off_t)len,
			      SYNC_FILE_RANGE_WRITE);
	s->writeback_from = s->artifact_bytes;
}

/* Writer thread: one chunk into the artifact and the ToC. */
static int write_chunk(struct lading_store *s, const struct chunk_job *j)
{
	struct lading_toc_entry *e;
	const uint8_t *src = j->data;
	size_t clen = j->len;
	uint8_t codec = LADING_CODEC_NONE;
	int ret;

	if (s->ntoc == s->toc_cap) {
		size_t cap = s->toc_cap ? s->toc_cap * 2 : 1024;
		struct lading_toc_entry *t = realloc(s->toc, cap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		s->toc = t;
		s->toc_cap = cap;
	}
	if (s->params.codec != LADING_CODEC_NONE &&
	    !lading_codec_compress(s->params.codec, s->params.level, j->data,
				   j->len, s->cbuf, s->cbuf_size, &clen) &&
	    clen < j->len) {
		src = s->cbuf;
		codec = (uint8_t)s->params.codec;
	} else {
		clen = j->len;	/* did not shrink: stored raw */
	}
	e = &s->toc[s->ntoc++];
	memset(e, 0, sizeof(*e));
	e->uoff = lading_cpu_to_le64(j->uoff);
	e->ulen = lading_cpu_to_le32(j->len);
	e->clen = lading_cpu_to_le32((uint32_t)clen);
	e->coff = lading_cpu_to_le64(s->artifact_bytes);
	e->codec = codec;
	memcpy(e->digest, j->digest, sizeof(e->digest));
	ret = artifact_append(s, src, clen);
	/* codec none: the artifact starts with the exact uncompressed view */
	if (!ret && s->params.codec == LADING_CODEC_NONE && j->len % LADING_BLOCK_SIZE)
		ret = artifact_append(s, zero_block,
				      LADING_BLOCK_SIZE - j->len % LADING_BLOCK_SIZE);
	if (!ret)
		start_writeback(s);
	return ret;
}

static void *blob_writer_main(void *arg)
{
	struct lading_store *s = arg;
	struct job_queue *q = &s->q;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct chunk_job *j;
		int ret = 0;

		while (q->head == q->tail && !q->closing)
			pthread_cond_wait(&q->not_empty, &q->lock);
		if (q->head == q->tail)
			break;
		j = &q->jobs[q->tail % q->nslots];
		pthread_mutex_unlock(&q->lock);
		if (!q->error)
			ret = write_chunk(s, j);
		pthread_mutex_lock(&q->lock);
		if (ret && !q->error)
			q->error = ret;
		q->tail++;
		pthread_cond_signal(&q->not_full);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/*
 * Queues a chunk for the writer: copied into the free slot or, when the
 * caller hands over its buffer (*swap), exchanged with the slot's.
 */
static int queue_push(struct lading_store *s, const uint8_t *data,
		      uint8_t **swap, size_t len, uint64_t uoff,
		      const uint8_t *digest)
{
	struct job_queue *q = &s->q;
	struct chunk_job *j;
	int ret;

	pthread_mutex_lock(&q->lock);
	while (q->head - q->tail == q->nslots && !q->error)
		pthread_cond_wait(&q->not_full, &q->lock);
	ret = q->error;
	pthread_mutex_unlock(&q->lock);
	if (ret)
		return ret;
	/* the slot is ours until head moves past it */
	j = &q->jobs[q->head % q->nslots];
	if (swap) {
		uint8_t *mine = j->data;

		j->data = *swap;
		*swap = mine;
	} else {
		memcpy(j->data, data, len);
	}
	j->len = (uint32_t)len;
	j->uoff = uoff;
	memcpy(j->digest, digest, LADING_SHA256_LEN);
	pthread_mutex_lock(&q->lock);
	q->head++;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

static int queue_init(struct lading_store *s)
{
	struct job_queue *q = &s->q;
	size_t i;

	q->nslots = QUEUE_BYTES / s->params.chunk_size;
	if (q->nslots < 2)
		q->nslots = 2;
	q->jobs = calloc(q->nslots, sizeof(*q->jobs));
	if (!q->jobs)
		return -ENOMEM;
	for (i = 0; i < q->nslots; i++) {
		q->jobs[i].data = malloc(s->params.chunk_size);
		if (!q->jobs[i].data)
			return -ENOMEM;
	}
	if (s->params.codec != LADING_CODEC_NONE) {
		s->cbuf_size = lading_codec_bound(s->params.codec,
						  s->params.chunk_size);
		s->cbuf = malloc(s->cbuf_size);
		if (!s->cbuf)
			return -ENOMEM;
	}
	return 0;
}

static int writer_start(struct lading_store *s)
{
	int ret;

	ret = queue_init(s);
	if (ret)
		return ret;
	ret = lading_outfile_open(&s->out, s->params.blob_dir);
	if (ret)
		return ret;
	s->out_open = true;
	ret = pthread_create(&s->writer, NULL, blob_writer_main, s);
	if (ret)
		return -ret;
	s->writer_running = true;
	return 0;
}

static int writer_stop(struct lading_store *s)
{
	struct job_queue *q = &s->q;

	if (!s->writer_running)
		return 0;
	pthread_mutex_lock(&q->lock);
	q->closing = true;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
	pthread_join(s->writer, NULL);
	s->writer_running = false;
	return q->error;
}

int lading_store_open(struct lading_store **out,
		      const struct lading_store_params *params)
{
	struct lading_store *s;

	if (!lading_chunk_size_valid(params->chunk_size) ||
	    !lading_codec_available(params->codec))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->q.lock, NULL);
	pthread_cond_init(&s->q.not_empty, NULL);
	pthread_cond_init(&s->q.not_full, NULL);
	s->params = *params;
	s->out.fd = -1;
	if (params->dedup) {
		s->dedup = params->dedup;
	} else if (lading_dedup_new(&s->dedup) == 0) {
		s->own_dedup = true;
	}
	if (!s->dedup || lading_sha256_init(&s->blob_md)) {
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
	if (s->ndigests == LADING_CHUNK_HOLE)
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

static int add_chunk(struct lading_store *s, const uint8_t *data,
		     uint8_t **swap, size_t len, struct lading_chunk_ref *ref)
{
	struct lading_digest d;
	const uint8_t *digest = d.bytes;
	size_t padded;
	uint64_t blkaddr;
	int ret;

	if (len == 0 || len > s->params.chunk_size)
		return -EINVAL;
	if (all_zero(data, len)) {
		lading_store_add_hole(s, len, ref);
		return 0;
	}
	ret = lading_sha256(data, len, &d);
	if (ret)
		return ret;
	s->stats.chunks++;
	s->stats.bytes_in += len;

	ret = lading_dedup_lookup(s->dedup, digest, (uint32_t)len, ref);
	if (ret && ret != -ENOENT)
		return ret;
	if (!ret) {
		s->stats.chunks_dedup++;
		s->stats.bytes_dedup += len;
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
	if (blkaddr + (padded >> LADING_BLOCK_BITS) >= LADING_CHUNK_HOLE)
		return -EFBIG;
	if (!s->writer_running) {
		ret = lading_dedup_alloc_device(s->dedup, &s->device_id);
		if (!ret)
			ret = writer_start(s);
		if (ret)
			return ret;
	}
	ret = queue_push(s, data, swap, len, s->blob_bytes, digest);
	if (ret)
		return ret;
	s->blob_bytes += padded;
remember:
	s->stats.chunks_stored++;
	*ref = (struct lading_chunk_ref){ .blkaddr = (uint32_t)blkaddr,
					  .device_id = s->device_id };
	return lading_dedup_insert(s->dedup, digest, (uint32_t)len, ref);
}

int lading_store_add_chunk(struct lading_store *s, const uint8_t *data,
			   size_t len, struct lading_chunk_ref *ref)
{
	return add_chunk(s, data, NULL, len, ref);
}

int lading_store_add_chunk_buf(struct lading_store *s, uint8_t **buf,
			       size_t len, struct lading_chunk_ref *ref)
{
	return add_chunk(s, *buf, buf, len, ref);
}

/* ToC and footer close the artifact (main thread, writer stopped). */
static int write_toc(struct lading_store *s, struct lading_blob_info *info)
{
	uint64_t toc_size = s->ntoc * sizeof(*s->toc);
	struct lading_blob_footer f = {
		.magic = lading_cpu_to_le64(LADING_TOC_MAGIC),
		.version = lading_cpu_to_le32(LADING_TOC_VERSION),
		.codec = lading_cpu_to_le32(s->params.codec),
		.toc_offset = lading_cpu_to_le64(s->artifact_bytes),
		.toc_size = lading_cpu_to_le64(toc_size),
		.uncompressed_size = lading_cpu_to_le64(s->blob_bytes),
		.chunk_size = lading_cpu_to_le32(s->params.chunk_size),
		.entries = lading_cpu_to_le32((uint32_t)s->ntoc),
	};
	struct lading_digest d;
	int ret = lading_sha256(s->toc, toc_size, &d);

	if (ret)
		return ret;
	memcpy(info->toc_digest, d.bytes, sizeof(info->toc_digest));
	info->stored_bytes = s->artifact_bytes;
	info->toc_offset = s->artifact_bytes;
	info->toc_size = toc_size;
	ret = artifact_append(s, s->toc, toc_size);
	if (!ret)
		ret = artifact_append(s, &f, sizeof(f));
	return ret;
}

int lading_store_finish(struct lading_store *s, struct lading_blob_info *info)
{
	struct lading_digest d;
	int ret;

	memset(info, 0, sizeof(*info));
	if (!s->out_open)
		return 0;	/* no data: no blob */
	ret = writer_stop(s);
	if (!ret)
		ret = write_toc(s, info);
	if (ret)
		return ret;
	ret = lading_sha256_final(&s->blob_md, &d);
	if (ret)
		return ret;
	memcpy(info->digest, d.bytes, sizeof(info->digest));
	lading_digest_hex(&d, info->id);
	info->size = s->artifact_bytes;
	info->uncompressed_size = s->blob_bytes;
	info->chunk_size = s->params.chunk_size;
	info->codec = s->params.codec;
	info->device_id = s->device_id;
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
	pthread_mutex_destroy(&s->q.lock);
	pthread_cond_destroy(&s->q.not_empty);
	pthread_cond_destroy(&s->q.not_full);
	lading_sha256_free(&s->blob_md);
	if (s->q.jobs) {
		size_t i;

		for (i = 0; i < s->q.nslots; i++)
			free(s->q.jobs[i].data);
		free(s->q.jobs);
	}
	free(s->cbuf);
	free(s->toc);
	if (s->own_dedup)
		lading_dedup_free(s->dedup);
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
