// SPDX-License-Identifier: MIT
/*
 * Per-chunk codecs of transport blobs.  Each chunk is compressed on its
 * own, so any chunk can be fetched with one range and decoded alone.
 * deflate is raw (RFC 1951), lzma is an .xz stream without a check (the
 * ToC's sha256 is the check), zstd is one frame.
 */
#include <errno.h>
#include <lz4.h>
#include <lz4hc.h>
#include <lzma.h>
#include <string.h>
#include <zlib.h>
#ifdef LADING_HAVE_ZSTD
#include <zstd.h>
#endif
#include <lading/store.h>

static const char *const codec_names[] = {
	[LADING_CODEC_NONE] = "none",
	[LADING_CODEC_LZ4] = "lz4",
	[LADING_CODEC_DEFLATE] = "deflate",
	[LADING_CODEC_LZMA] = "lzma",
	[LADING_CODEC_ZSTD] = "zstd",
};

const char *lading_codec_name(enum lading_codec c)
{
	/* a blob-table codec, not a chunk codec: named, never parsed */
	if (c == LADING_CODEC_GZIP_INDEXED)
		return "gzip-indexed";
	return (unsigned int)c < LADING_ARRAY_SIZE(codec_names) ? codec_names[c] :
								    "unknown";
}

bool lading_codec_available(enum lading_codec c)
{
#ifndef LADING_HAVE_ZSTD
	if (c == LADING_CODEC_ZSTD)
		return false;
#endif
	return (unsigned int)c < LADING_ARRAY_SIZE(codec_names);
}

int lading_codec_parse(const char *s, enum lading_codec *codec, int *level)
{
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	unsigned int i;

	*level = -1;
	for (i = 0; i < LADING_ARRAY_SIZE(codec_names); i++) {
		if (strlen(codec_names[i]) == n && !strncmp(s, codec_names[i], n))
			break;
	}
	if (i == LADING_ARRAY_SIZE(codec_names))
		return -EINVAL;
	if (!lading_codec_available((enum lading_codec)i))
		return -ENOTSUP;
	*codec = (enum lading_codec)i;
	if (colon) {
		int64_t v;

		if (i == LADING_CODEC_NONE ||
		    lading_parse_int64(colon + 1, 0, 22, &v))
			return -EINVAL;
		*level = (int)v;
	}
	return 0;
}

size_t lading_codec_bound(enum lading_codec c, size_t len)
{
	switch (c) {
	case LADING_CODEC_LZ4:
		return (size_t)LZ4_compressBound((int)len);
	case LADING_CODEC_DEFLATE:
		return compressBound((uLong)len) + 16;
	case LADING_CODEC_LZMA:
		return lzma_stream_buffer_bound(len);
#ifdef LADING_HAVE_ZSTD
	case LADING_CODEC_ZSTD:
		return ZSTD_compressBound(len);
#endif
	default:
		return len;
	}
}

static int deflate_raw(int level, const uint8_t *in, size_t len, uint8_t *out,
		       size_t cap, size_t *outlen)
{
	z_stream z = { 0 };
	int zr;

	if (deflateInit2(&z, level < 0 ? 6 : (level > 9 ? 9 : level), Z_DEFLATED,
			 -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	zr = deflate(&z, Z_FINISH);
	*outlen = cap - z.avail_out;
	deflateEnd(&z);
	return zr == Z_STREAM_END ? 0 : -ENOSPC;
}

static int inflate_raw(const uint8_t *in, size_t len, uint8_t *out, size_t want)
{
	z_stream z = { 0 };
	int zr;

	if (inflateInit2(&z, -15) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)want;
	zr = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	return zr == Z_STREAM_END && z.avail_out == 0 && z.avail_in == 0 ?
		0 : -EBADMSG;
}

int lading_codec_compress(enum lading_codec c, int level, const uint8_t *in,
			  size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t pos = 0;
	int n;

	switch (c) {
	case LADING_CODEC_NONE:
		if (cap < len)
			return -ENOSPC;
		memcpy(out, in, len);
		*outlen = len;
		return 0;
	case LADING_CODEC_LZ4:
		n = level > 2 ? LZ4_compress_HC((const char *)in, (char *)out,
						(int)len, (int)cap, level) :
			LZ4_compress_default((const char *)in, (char *)out,
					     (int)len, (int)cap);
		if (n <= 0)
			return -ENOSPC;
		*outlen = (size_t)n;
		return 0;
	case LADING_CODEC_DEFLATE:
		return deflate_raw(level, in, len, out, cap, outlen);
	case LADING_CODEC_LZMA:
		if (lzma_easy_buffer_encode(level < 0 ? 6 : (uint32_t)(level > 9 ? 9 : level),
					    LZMA_CHECK_NONE, NULL, in, len, out,
					    &pos, cap) != LZMA_OK)
			return -ENOSPC;
		*outlen = pos;
		return 0;
#ifdef LADING_HAVE_ZSTD
	case LADING_CODEC_ZSTD: {
		size_t r = ZSTD_compress(out, cap, in, len, level < 0 ? 3 : level);

		if (ZSTD_isError(r))
			return -ENOSPC;
		*outlen = r;
		return 0;
	}
#endif
	default:
		return -ENOTSUP;
	}
}

int lading_codec_decompress(enum lading_codec c, const uint8_t *in, size_t len,
			    uint8_t *out, size_t want)
{
	uint64_t memlimit = UINT64_MAX;
	size_t in_pos = 0, out_pos = 0;
	int n;

	switch (c) {
	case LADING_CODEC_NONE:
		if (len != want)
			return -EBADMSG;
		memcpy(out, in, len);
		return 0;
	case LADING_CODEC_LZ4:
		n = LZ4_decompress_safe((const char *)in, (char *)out, (int)len,
					(int)want);
		return n >= 0 && (size_t)n == want ? 0 : -EBADMSG;
	case LADING_CODEC_DEFLATE:
		return inflate_raw(in, len, out, want);
	case LADING_CODEC_LZMA:
		if (lzma_stream_buffer_decode(&memlimit, 0, NULL, in, &in_pos, len,
					      out, &out_pos, want) != LZMA_OK)
			return -EBADMSG;
		return in_pos == len && out_pos == want ? 0 : -EBADMSG;
#ifdef LADING_HAVE_ZSTD
	case LADING_CODEC_ZSTD: {
		size_t r = ZSTD_decompress(out, want, in, len);

		return !ZSTD_isError(r) && r == want ? 0 : -EBADMSG;
	}
#endif
	default:
		return -ENOTSUP;
	}
}
