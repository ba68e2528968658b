// SPDX-License-Identifier: MIT
/*
 * Decompressed input for the tar reader.  libarchive's gzip filter never
 * checks the gzip trailer (CRC-32 and length), so gzip goes through zlib
 * here, which does.  xz, zstd and bzip2 go through a libarchive "raw"
 * reader whose decoders verify their own checks once the stream has been
 * read to its end, which input_drain() guarantees after the last tar
 * entry.  Plain tars are passed through from the file descriptor.
 *
 * The format is told by its magic bytes, whatever a media type says, as
 * containerd's DecompressStream does.  After a gzip member comes another
 * member or the end: anything else is an error, as in Go's compress/gzip
 * (containerd's decoder when no unpigz is installed).
 */
#include <archive.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <zlib.h>
#ifdef LADING_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif
#include "internal.h"

#define IN_BUF (1u << 20)
/*
 * A file opened by path is read ahead of us, RA_WINDOW at a time: when
 * nothing is cached the disk then works while we hash, instead of each
 * read() waiting for its own megabyte.
 */
#define RA_WINDOW (32u << 20)

enum input_kind { IN_PLAIN, IN_GZIP, IN_ARCHIVE };

struct input_stream {
	enum input_kind kind;
	int fd;
	bool own_fd;
	bool out_is_raw;	/* plain: the raw digest is the output's */
	bool eof_raw;		/* fd exhausted */
	bool done;		/* decompressed stream ended */
	uint8_t *in;		/* raw bytes read from fd */
	size_t in_len, in_pos;
	uint8_t *out;		/* decompressed bytes handed out */
	z_stream z;
	bool z_init;
#ifdef LADING_HAVE_ISAL
	struct inflate_state *isal;	/* gzip via ISA-L: 3-4x zlib's speed */
#endif
	struct archive *raw;
	uint64_t raw_bytes;
	uint64_t ra_until;	/* readahead asked for up to here (own_fd) */
	lading_read_fn read;	/* instead of fd */
	void *read_ud;
	struct lading_sha256_ctx raw_md;	/* of every raw byte (md NULL: no) */
	struct lading_sha256_ctx out_md;	/* of every decompressed byte */
	uint64_t out_bytes;	/* decompressed bytes, handed out or drained */
	char raw_hex[LADING_DIGEST_HEX_LEN + 1], out_hex[LADING_DIGEST_HEX_LEN + 1];
	const char *name;	/* for messages */
	/*
	 * The first failure, set where it happens (on the decoding thread,
	 * if any) and handed to the caller's error by the call that returns
	 * it, so two threads never write one lading_error.
	 */
	struct lading_error err;
	struct pipeline *pipe;	/* decoding on its own thread, if any */
};

/*
 * Decoding (inflate, raw digest) runs on a thread of its own, feeding the
 * tar reader through a few buffers, so decompression overlaps with
 * parsing and chunk hashing on the other core.
 */
#define PIPE_SLOTS 4

struct pipe_slot {
	uint8_t *data;
	ssize_t len;		/* bytes, 0 at the end, -errno on error */
};

struct pipeline;
static int pipe_start(struct input_stream *s);
static void pipe_stop(struct input_stream *s);

struct pipeline {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t ready, free_slot;
	struct pipe_slot slots[PIPE_SLOTS];
	uint64_t head, tail;	/* slots produced / consumed */
	bool stop, finished;
	bool holding;		/* the consumer still uses slot tail */
};

/* Asks for the next window once we are within one of the last asked. */
static void read_ahead(struct input_stream *s)
{
	uint64_t pos = __atomic_load_n(&s->raw_bytes, __ATOMIC_RELAXED);

	if (!s->own_fd || pos + RA_WINDOW < s->ra_until)
		return;
	/* advice only: a pipe or device refusing it is read as before */
	(void)posix_fadvise(s->fd, (off_t)s->ra_until, RA_WINDOW,
			    POSIX_FADV_WILLNEED);
	s->ra_until += RA_WINDOW;
}

static int fill_raw(struct input_stream *s)
{
	ssize_t n;

	if (s->in_pos == s->in_len)
		s->in_pos = s->in_len = 0;
	if (s->in_len == IN_BUF || s->eof_raw)
		return 0;
	if (s->read) {
		n = s->read(s->read_ud, s->in + s->in_len, IN_BUF - s->in_len);
		if (n < 0)
			return lading_error_set(&s->err, (int)-n, "read: %s",
						strerror((int)-n));
	} else {
		read_ahead(s);
		do
			n = read(s->fd, s->in + s->in_len, IN_BUF - s->in_len);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return lading_error_set(&s->err, errno, "read: %s",
						strerror(errno));
	}
	if (n == 0)
		s->eof_raw = true;
	else if (s->raw_md.md &&
		 lading_sha256_update(&s->raw_md, s->in + s->in_len, (size_t)n))
		return lading_error_set(&s->err, EIO, "sha256 failed");
	s->in_len += (size_t)n;
	/* the decoding thread counts, the progress line reads */
	__atomic_add_fetch(&s->raw_bytes, (uint64_t)n, __ATOMIC_RELAXED);
	return 0;
}

/*
 * At least n raw bytes at in_pos unless the input ends first: compacts
 * the buffer when they would not fit behind what it holds.
 */
static int need_raw(struct input_stream *s, size_t n)
{
	int ret;

	while (s->in_len - s->in_pos < n && !s->eof_raw) {
		if (s->in_pos && s->in_len == IN_BUF) {
			memmove(s->in, s->in + s->in_pos, s->in_len - s->in_pos);
			s->in_len -= s->in_pos;
			s->in_pos = 0;
		}
		ret = fill_raw(s);
		if (ret)
			return ret;
	}
	return 0;
}

/* libarchive pulls the raw compressed bytes through this. */
static la_ssize_t raw_read_cb(struct archive *a, void *ud, const void **buf)
{
	struct input_stream *s = ud;
	size_t n;

	if (s->in_pos == s->in_len && fill_raw(s) < 0) {
		archive_set_error(a, EIO, "%s", lading_error_message(&s->err, -EIO));
		return -1;
	}
	n = s->in_len - s->in_pos;
	*buf = s->in + s->in_pos;
	s->in_pos = s->in_len;
	return (la_ssize_t)n;
}

static int open_archive_layer(struct input_stream *s)
{
	struct archive_entry *e;

	s->raw = archive_read_new();
	if (!s->raw)
		return -ENOMEM;
	archive_read_support_filter_all(s->raw);
	archive_read_support_format_raw(s->raw);
	if (archive_read_open(s->raw, s, NULL, raw_read_cb, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(s->raw, &e) != ARCHIVE_OK) {
		return lading_error_set(&s->err, EINVAL, "%s",
					archive_error_string(s->raw) ?
					archive_error_string(s->raw) :
					"cannot decompress");
	}
	return 0;
}

static int sniff(struct input_stream *s)
{
	static const uint8_t gz[] = { 0x1f, 0x8b };
	static const uint8_t xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0 };
	static const uint8_t zst[] = { 0x28, 0xb5, 0x2f, 0xfd };
	uint32_t le32;
	int ret;

	while (s->in_len < 6 && !s->eof_raw) {
		ret = fill_raw(s);
		if (ret)
			return ret;
	}
	if (s->in_len >= 2 && !memcmp(s->in, gz, sizeof(gz))) {
		s->kind = IN_GZIP;
#ifdef LADING_HAVE_ISAL
		s->isal = malloc(sizeof(*s->isal));
		if (!s->isal)
			return -ENOMEM;
		isal_inflate_init(s->isal);
		s->isal->crc_flag = ISAL_GZIP;	/* header parsed, CRC checked */
		return 0;
#endif
		if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
			return -ENOMEM;
		s->z_init = true;
		return 0;
	}
	/* a zstd stream may open with a skippable frame (0x184D2A5?) */
	le32 = s->in_len >= 4 ? (uint32_t)s->in[0] | (uint32_t)s->in[1] << 8 |
		(uint32_t)s->in[2] << 16 | (uint32_t)s->in[3] << 24 : 0;
	if ((s->in_len >= 6 && !memcmp(s->in, xz, sizeof(xz))) ||
	    (s->in_len >= 4 && !memcmp(s->in, zst, sizeof(zst))) ||
	    (le32 & 0xfffffff0u) == 0x184d2a50u ||
	    (s->in_len >= 3 && !memcmp(s->in, "BZh", 3))) {
		s->kind = IN_ARCHIVE;
		return open_archive_layer(s);
	}
	s->kind = IN_PLAIN;
	return 0;
}

/* Hands the stream's failure to the caller as "NAME: why"; returns ret. */
static int report(struct input_stream *s, int ret, struct lading_error *err)
{
	if (ret >= 0)
		return ret;
	return lading_error_set(err, -ret, "%s: %s", s->name,
				lading_error_message(&s->err, ret));
}

static int open_stream(struct input_stream *s, const char *path,
		       lading_read_fn read_fn, void *read_ud, bool digest,
		       bool out_digest)
{
	int ret;

	s->fd = -1;
	s->in = malloc(IN_BUF);
	s->out = malloc(IN_BUF);
	if (!s->in || !s->out)
		return lading_error_set(&s->err, ENOMEM, "out of memory");
	/* hashing every raw byte costs a sha256 pass: only when asked */
	ret = digest ? lading_sha256_init(&s->raw_md) : 0;
	if (!ret && out_digest)
		ret = lading_sha256_init(&s->out_md);
	if (ret)
		return lading_error_set(&s->err, -ret, "sha256: %s", strerror(-ret));
	if (read_fn) {
		s->read = read_fn;
		s->read_ud = read_ud;
	} else if (!strcmp(path, "-")) {
		s->fd = STDIN_FILENO;
	} else {
		s->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (s->fd < 0)
			return lading_error_set(&s->err, errno, "%s", strerror(errno));
		s->own_fd = true;
	}
	ret = sniff(s);
	if (!ret && s->kind == IN_PLAIN && s->raw_md.md && s->out_md.md) {
		/* the same bytes: one hash serves both */
		lading_sha256_free(&s->out_md);
		s->out_is_raw = true;
	}
	/* plain tars without a digest to compute have nothing to overlap */
	if (!ret && (s->kind != IN_PLAIN || s->raw_md.md || s->out_md.md))
		ret = pipe_start(s);
	if (ret == -ENOMEM)
		lading_error_set(&s->err, ENOMEM, "out of memory");
	return ret;
}

int input_open(struct input_stream **out, const char *path, const char *name,
	       lading_read_fn read_fn, void *read_ud, bool digest,
	       bool out_digest, struct lading_error *err)
{
	struct input_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return lading_error_set(err, ENOMEM, "%s: out of memory", name);
	s->name = name;
	*out = s;
	return report(s, open_stream(s, path, read_fn, read_ud, digest,
				     out_digest), err);
}

/*
 * After a gzip member: the end, or another member (1f 8b 08, as Go's
 * compress/gzip asks); *more tells which.
 */
static int gzip_member_end(struct input_stream *s, bool *more)
{
	int ret = need_raw(s, 3);

	if (ret)
		return ret;
	*more = false;
	if (s->in_pos == s->in_len)
		return 0;	/* eof_raw: the stream ends with the member */
	if (s->in_len - s->in_pos >= 3 && s->in[s->in_pos] == 0x1f &&
	    s->in[s->in_pos + 1] == 0x8b && s->in[s->in_pos + 2] == 8) {
		*more = true;
		return 0;
	}
	return lading_error_set(&s->err, EIO, "corrupt gzip data: bytes after "
				"the end of the compressed stream that are not "
				"another gzip member");
}

static ssize_t gzip_read(struct input_stream *s, const void **buf)
{
	for (;;) {
		size_t before, produced;
		int zr, ret;

		if (s->in_pos == s->in_len && !s->eof_raw) {
			ret = fill_raw(s);
			if (ret)
				return ret;
		}
		s->z.next_in = s->in + s->in_pos;
		s->z.avail_in = (uInt)(s->in_len - s->in_pos);
		s->z.next_out = s->out;
		s->z.avail_out = IN_BUF;
		before = s->z.avail_in;
		zr = inflate(&s->z, Z_NO_FLUSH);
		s->in_pos += before - s->z.avail_in;
		produced = IN_BUF - s->z.avail_out;
		if (zr == Z_STREAM_END) {
			bool more;

			/* another member may follow (concatenated gzip) */
			ret = gzip_member_end(s, &more);
			if (ret)
				return ret;
			if (more)
				inflateReset(&s->z);
			else
				s->done = true;
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			return lading_error_set(&s->err, EIO, "corrupt gzip data: %s",
						s->z.msg ? s->z.msg : "inflate failed");
		} else if (!produced && s->eof_raw && s->in_pos == s->in_len) {
			return lading_error_set(&s->err, EIO, "gzip data truncated");
		}
		if (produced || s->done) {
			*buf = s->out;
			return (ssize_t)produced;
		}
	}
}

#ifdef LADING_HAVE_ISAL
/* The same contract as gzip_read(), decoded by ISA-L's igzip. */
static ssize_t gzip_read_isal(struct input_stream *s, const void **buf)
{
	struct inflate_state *st = s->isal;

	for (;;) {
		size_t before, produced;
		int r, ret;

		if (s->in_pos == s->in_len && !s->eof_raw) {
			ret = fill_raw(s);
			if (ret)
				return ret;
		}
		st->next_in = s->in + s->in_pos;
		st->avail_in = (uint32_t)(s->in_len - s->in_pos);
		st->next_out = s->out;
		st->avail_out = IN_BUF;
		before = st->avail_in;
		r = isal_inflate(st);
		s->in_pos += before - st->avail_in;
		produced = IN_BUF - st->avail_out;
		if (r != ISAL_DECOMP_OK) {
			return lading_error_set(&s->err, EIO, "corrupt gzip data%s",
						r == ISAL_INCORRECT_CHECKSUM ?
						": incorrect data check" : "");
		}
		if (st->block_state == ISAL_BLOCK_FINISH) {
			bool more;

			/* another member may follow (concatenated gzip) */
			ret = gzip_member_end(s, &more);
			if (ret)
				return ret;
			if (more) {
				isal_inflate_reset(st);
				st->crc_flag = ISAL_GZIP;
			} else {
				s->done = true;
			}
		} else if (!produced && s->eof_raw && s->in_pos == s->in_len) {
			return lading_error_set(&s->err, EIO, "gzip data truncated");
		}
		if (produced || s->done) {
			*buf = s->out;
			return (ssize_t)produced;
		}
	}
}
#endif

static ssize_t decode_read(struct input_stream *s, const void **buf)
{
	ssize_t n;
	int ret;

	if (s->done)
		return 0;
	switch (s->kind) {
	case IN_GZIP:
#ifdef LADING_HAVE_ISAL
		if (s->isal)
			return gzip_read_isal(s, buf);
#endif
		return gzip_read(s, buf);
	case IN_ARCHIVE:
		n = archive_read_data(s->raw, s->out, IN_BUF);
		if (n < 0) {
			return lading_error_set(&s->err, EIO, "%s",
						archive_error_string(s->raw) ?
						archive_error_string(s->raw) :
						"decompression failed");
		}
		if (n == 0)
			s->done = true;
		*buf = s->out;
		return n;
	default:
		if (s->in_pos == s->in_len) {
			ret = fill_raw(s);
			if (ret)
				return ret;
		}
		n = (ssize_t)(s->in_len - s->in_pos);
		*buf = s->in + s->in_pos;
		s->in_pos = s->in_len;
		if (n == 0)
			s->done = true;
		return n;
	}
}

/* decode_read(), counting and hashing what it hands out. */
static ssize_t decode_next(struct input_stream *s, const void **buf)
{
	ssize_t n = decode_read(s, buf);

	if (n <= 0)
		return n;
	s->out_bytes += (uint64_t)n;
	if (s->out_md.md && lading_sha256_update(&s->out_md, *buf, (size_t)n))
		return lading_error_set(&s->err, EIO, "sha256 failed");
	return n;
}

static int decode_drain(struct input_stream *s)
{
	const void *buf;
	ssize_t n;
	int ret;

	do
		n = decode_next(s, &buf);
	while (n > 0);
	if (n < 0)
		return (int)n;
	/* bytes after the compressed stream still count for the digest */
	while (!s->eof_raw) {
		s->in_pos = s->in_len;
		ret = fill_raw(s);
		if (ret)
			return ret;
	}
	return 0;
}

static void *pipe_main(void *arg)
{
	struct input_stream *s = arg;
	struct pipeline *p = s->pipe;

	for (;;) {
		struct pipe_slot *slot;
		const void *buf;
		ssize_t n;

		pthread_mutex_lock(&p->lock);
		while (p->head - p->tail == PIPE_SLOTS && !p->stop)
			pthread_cond_wait(&p->free_slot, &p->lock);
		if (p->stop) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		slot = &p->slots[p->head % PIPE_SLOTS];
		pthread_mutex_unlock(&p->lock);

		n = decode_next(s, &buf);
		if (n > 0)
			memcpy(slot->data, buf, (size_t)n);
		else if (n == 0)
			n = decode_drain(s);	/* raw tail, for the digest */
		slot->len = n;

		pthread_mutex_lock(&p->lock);
		p->head++;
		pthread_cond_signal(&p->ready);
		if (n <= 0)
			p->finished = true;
		pthread_mutex_unlock(&p->lock);
		if (n <= 0)
			return NULL;
	}
}

static int pipe_start(struct input_stream *s)
{
	struct pipeline *p = calloc(1, sizeof(*p));
	size_t i;

	if (!p)
		return -ENOMEM;
	for (i = 0; i < PIPE_SLOTS; i++) {
		p->slots[i].data = malloc(IN_BUF);
		if (!p->slots[i].data)
			goto fail;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->ready, NULL);
	pthread_cond_init(&p->free_slot, NULL);
	s->pipe = p;
	if (pthread_create(&p->thread, NULL, pipe_main, s) == 0)
		return 0;
	s->pipe = NULL;
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->ready);
	pthread_cond_destroy(&p->free_slot);
fail:
	for (i = 0; i < PIPE_SLOTS; i++)
		free(p->slots[i].data);
	free(p);
	return 0;	/* no thread: decode inline */
}

static void pipe_stop(struct input_stream *s)
{
	struct pipeline *p = s->pipe;
	size_t i;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->free_slot);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->ready);
	pthread_cond_destroy(&p->free_slot);
	for (i = 0; i < PIPE_SLOTS; i++)
		free(p->slots[i].data);
	free(p);
	s->pipe = NULL;
}

static ssize_t pipe_read(struct input_stream *s, const void **buf)
{
	struct pipeline *p = s->pipe;
	struct pipe_slot *slot;
	ssize_t n;

	if (!p)
		return decode_next(s, buf);
	pthread_mutex_lock(&p->lock);
	if (p->holding) {
		/* the buffer handed out last time is the caller's no longer */
		p->tail++;
		p->holding = false;
		pthread_cond_signal(&p->free_slot);
	}
	while (p->tail == p->head)
		pthread_cond_wait(&p->ready, &p->lock);
	slot = &p->slots[p->tail % PIPE_SLOTS];
	n = slot->len;
	p->holding = n > 0;	/* the end (or an error) stays put */
	pthread_mutex_unlock(&p->lock);
	if (n > 0)
		*buf = slot->data;
	return n;
}

ssize_t input_read(struct input_stream *s, const void **buf,
		   struct lading_error *err)
{
	ssize_t n = pipe_read(s, buf);

	return n < 0 ? report(s, (int)n, err) : n;
}

int input_drain(struct input_stream *s, struct lading_error *err)
{
	const void *buf;
	ssize_t n;

	if (!s->pipe)
		return report(s, decode_drain(s), err);
	do
		n = pipe_read(s, &buf);
	while (n > 0);
	return n < 0 ? report(s, (int)n, err) : 0;
}

/* Finishes a digest once; later calls give the same hex. */
static int digest_final(struct lading_sha256_ctx *md, char *cache, char *hex)
{
	struct lading_digest d;
	int ret;

	if (!md->md) {
		hex[0] = '\0';
		return 0;
	}
	if (!cache[0]) {
		ret = lading_sha256_final(md, &d);
		if (ret)
			return ret;
		lading_digest_hex(&d, cache);
	}
	memcpy(hex, cache, LADING_DIGEST_HEX_LEN + 1);
	return 0;
}

int input_raw_digest(struct input_stream *s, char *hex)
{
	return digest_final(&s->raw_md, s->raw_hex, hex);
}

int input_out_digest(struct input_stream *s, char *hex)
{
	if (s->out_is_raw)
		return input_raw_digest(s, hex);
	return digest_final(&s->out_md, s->out_hex, hex);
}

uint64_t input_out_bytes(const struct input_stream *s)
{
	return s->out_bytes;
}

uint64_t input_raw_bytes(const struct input_stream *s)
{
	return __atomic_load_n(&s->raw_bytes, __ATOMIC_RELAXED);
}

void input_close(struct input_stream *s)
{
	if (!s)
		return;
	pipe_stop(s);
	if (s->raw)
		archive_read_free(s->raw);
	if (s->z_init)
		inflateEnd(&s->z);
#ifdef LADING_HAVE_ISAL
	free(s->isal);
#endif
	if (s->own_fd && s->fd >= 0)
		close(s->fd);
	lading_sha256_free(&s->raw_md);
	lading_sha256_free(&s->out_md);
	free(s->in);
	free(s->out);
	free(s);
}
