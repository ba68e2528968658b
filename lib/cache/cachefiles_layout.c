// SPDX-License-Identifier: MIT
/*
 * Linux cachefiles on-disk naming for EROFS on-demand objects.
 *
 * The rules (as in Linux 6.1; unchanged in shape since 5.17):
 *
 *  - fscache_hash(salt, data, len) (fs/fscache/main.c): x = 0, y = salt;
 *    per little-endian u32 word a: x ^= a; y ^= x; x = rol32(x, 7);
 *    x += y; y = rol32(y, 20); y *= 9.  Result: __hash_32(y ^ __hash_32(x))
 *    with __hash_32(v) = v * 0x61C88647 (mod 2^32).
 *  - Volume key hash (fs/fscache/volume.c, fscache_alloc_volume): the
 *    buffer is [u8 klen][key bytes] zero-padded to round_up(klen + 2, 4)
 *    bytes (so at least one NUL follows the key), hashed with salt 0.
 *  - Cookie key hash (fs/fscache/cookie.c, fscache_set_key): the key bytes
 *    zero-padded to round_up(len, 4), hashed with salt = volume key hash.
 *  - Fan-out directory (fs/cachefiles/namei.c, volume->fanout[(u8)hash]):
 *    "@%02x" of the low byte of the cookie key hash.
 *  - Volume directory (fs/cachefiles/volume.c, cachefiles_acquire_volume):
 *    'I' followed by the volume key, raw, under "cache/".
 *  - Object name (fs/cachefiles/key.c, cachefiles_cook_key): see cook().
 *  - Xattrs (fs/cachefiles/xattr.c): struct cachefiles_xattr = be64
 *    object_size, be64 zero_point (0), u8 type (1 = data), u8 content (0:
 *    set from CACHEFILES_CONTENT_NO_DATA), then the cookie's aux data, of
 *    which EROFS passes none; struct cachefiles_vol_xattr = be32 reserved
 *    (0), then the volume coherency data, of which EROFS passes none
 *    (fs/erofs/fscache.c: fscache_acquire_volume(name, NULL, NULL, 0),
 *    fscache_acquire_cookie(..., name, strlen(name), NULL, 0, 0)).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <lading/cache.h>
#include <lading/cachefiles.h>
#include <lading/fetch.h>

#define GOLDEN_RATIO_32 0x61C88647u

static uint32_t rol32(uint32_t v, unsigned int s)
{
	return v << s | v >> (32 - s);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

uint32_t lading_cachefiles_hash(uint32_t salt, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t x = 0, y = salt;
	size_t n;

	for (n = len / 4; n; n--, p += 4) {
		x ^= get_le32(p);
		y ^= x;
		x = rol32(x, 7);
		x += y;
		y = rol32(y, 20);
		y *= 9;
	}
	return (y ^ x * GOLDEN_RATIO_32) * GOLDEN_RATIO_32;
}

/* Keys are at most 255 bytes (fscache); hashing pads them to whole words. */
#define KEYBUF_MAX 260u

static uint32_t volume_hash(const char *vkey, size_t klen)
{
	uint8_t buf[KEYBUF_MAX] = { 0 };
	size_t hlen = (1 + klen + 1 + 3) & ~(size_t)3;

	buf[0] = (uint8_t)klen;
	memcpy(buf + 1, vkey, klen);
	return lading_cachefiles_hash(0, buf, hlen);
}

static int check_volume_key(const char *vkey, size_t *klen)
{
	if (!vkey)
		return -EINVAL;
	*klen = strlen(vkey);
	/* "I" + key is one directory name (lookup_one_len limits). */
	if (*klen > LADING_CACHEFILES_VOLUME_KEY_MAX)
		return -ENAMETOOLONG;
	if (strchr(vkey, '/'))
		return -EINVAL;
	return 0;
}

/* The result of snprintf(out, outlen, ...): its length, or -ENOSPC. */
static int put(size_t outlen, int n)
{
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= outlen)
		return -ENOSPC;
	return n;
}

int lading_cachefiles_volume_key(const char *fsid, const char *domain_id,
				 char *out, size_t outlen)
{
	const char *id = domain_id ? domain_id : fsid;
	int ret;

	if (!fsid || !*fsid || !out)
		return -EINVAL;
	if (strlen(id) > LADING_CACHEFILES_VOLUME_KEY_MAX - 6)
		return -ENAMETOOLONG;
	ret = put(outlen, snprintf(out, outlen, "erofs,%s", id));
	if (ret >= 0 && strchr(out, '/'))
		ret = -EINVAL;
	return ret;
}

int lading_cachefiles_volume_dir(const char *volume_key, char *out,
				 size_t outlen)
{
	size_t klen;
	int ret;

	if (!out)
		return -EINVAL;
	ret = check_volume_key(volume_key, &klen);
	if (ret)
		return ret;
	return put(outlen,
		   snprintf(out, outlen, LADING_CACHEFILES_CACHE_DIR "/I%s",
			    volume_key));
}

/* Bytes that may appear raw in a "D" name: '!'..'.' and '0'..DEL. */
static bool printable(uint8_t c)
{
	return (c >= 33 && c <= 46) || (c >= 48 && c <= 127);
}

static unsigned int hex_digits(uint32_t v)
{
	unsigned int n = 0;

	for (; v; v >>= 4)
		n++;
	return n;
}

/*
 * cachefiles_cook_key(): the file name of a data object.
 *  - every byte printable(): 'D' + the key as is;
 *  - else, over the key zero-padded to whole u32 words, count for the
 *    big-endian and for the little-endian reading the length of ",%x" per
 *    word, with an all-zero word printing no digits (nbe, nle); with
 *    b64len = 2 + 4 * ceil(len / 3): if nbe < b64len or nle < b64len, the
 *    words joined by ',' after 'S' (big-endian, if nbe <= nle) or 'T'
 *    (little-endian), zero words empty;
 *  - else 'E', '0' + pad (pad = 3 * ceil(len / 3) - len), then per 3 bytes
 *    (missing bytes 0) acc = b0 | b1 << 8 | b2 << 16, four characters of
 *    "0-9a-zA-Z_-" for acc & 63, (acc >> 6) & 63, ... low bits first.
 * Returns the length, -ENAMETOOLONG past NAME_MAX (the kernel's lookup
 * would fail too).
 */
static int cook(const uint8_t *key, size_t len, char *name)
{
	static const char charmap[64] =
		"0123456789abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ_-";
	uint8_t padded[KEYBUF_MAX] = { 0 };
	size_t i, n, nbe = 0, nle = 0, b64len, pad, out = 0;
	bool print = true;

	for (i = 0; i < len; i++)
		print = print && printable(key[i]);
	if (print) {
		name[0] = 'D';
		memcpy(name + 1, key, len);
		name[1 + len] = '\0';
		return (int)(1 + len);
	}

	memcpy(padded, key, len);
	n = (len + 3) & ~(size_t)3;
	for (i = 0; i < n; i += 4) {
		nbe += 1 + hex_digits(get_be32(padded + i));
		nle += 1 + hex_digits(get_le32(padded + i));
	}
	b64len = (len + 2) / 3;
	pad = b64len * 3 - len;
	b64len = 2 + b64len * 4;

	if (nbe < b64len || nle < b64len) {
		bool be = nbe <= nle;

		if ((be ? nbe : nle) > LADING_CACHEFILES_NAME_MAX)
			return -ENAMETOOLONG;
		for (i = 0; i < n; i += 4) {
			uint32_t w = be ? get_be32(padded + i)
					: get_le32(padded + i);

			name[out++] = i == 0 ? (be ? 'S' : 'T') : ',';
			if (w)
				out += (size_t)sprintf(name + out, "%x",
						       (unsigned int)w);
		}
		name[out] = '\0';
		return (int)out;
	}

	if (b64len > LADING_CACHEFILES_NAME_MAX)
		return -ENAMETOOLONG;
	name[out++] = 'E';
	name[out++] = (char)('0' + pad);
	for (i = 0; i < len; i += 3) {
		uint32_t acc = (uint32_t)padded[i] |
			       (uint32_t)padded[i + 1] << 8 |
			       (uint32_t)padded[i + 2] << 16;
		int k;

		for (k = 0; k < 4; k++, acc >>= 6)
			name[out++] = charmap[acc & 63];
	}
	name[out] = '\0';
	return (int)out;
}

int lading_cachefiles_object_path(const char *volume_key,
				  const void *cookie_key, size_t cookie_len,
				  char *out, size_t outlen)
{
	uint8_t padded[KEYBUF_MAX] = { 0 };
	char name[LADING_CACHEFILES_NAME_MAX + 16];
	uint32_t hash;
	size_t klen;
	int ret;

	if (!out || !cookie_key || !cookie_len)
		return -EINVAL;
	ret = check_volume_key(volume_key, &klen);
	if (ret)
		return ret;
	/* fscache refuses keys over 255 bytes; cachefiles BUGs past 252. */
	if (cookie_len > LADING_CACHEFILES_COOKIE_KEY_MAX)
		return -ENAMETOOLONG;

	ret = cook(cookie_key, cookie_len, name);
	if (ret < 0)
		return ret;

	memcpy(padded, cookie_key, cookie_len);
	hash = lading_cachefiles_hash(volume_hash(volume_key, klen), padded,
				      (cookie_len + 3) & ~(size_t)3);
	return put(outlen,
		   snprintf(out, outlen,
			    LADING_CACHEFILES_CACHE_DIR "/I%s/@%02x/%s",
			    volume_key, (unsigned int)(hash & 0xff), name));
}

int lading_cachefiles_object_xattr(uint64_t object_size, uint8_t *out,
				   size_t outlen)
{
	int i;

	if (!out)
		return -EINVAL;
	if (outlen < LADING_CACHEFILES_OBJECT_XATTR_LEN)
		return -ENOSPC;
	for (i = 0; i < 8; i++)
		out[i] = (uint8_t)(object_size >> (56 - 8 * i));
	memset(out + 8, 0, 8);			/* zero_point */
	out[16] = LADING_CACHEFILES_TYPE_DATA;
	out[17] = LADING_CACHEFILES_CONTENT_NO_DATA;
	return LADING_CACHEFILES_OBJECT_XATTR_LEN;	/* no aux data */
}

int lading_cachefiles_volume_xattr(uint8_t *out, size_t outlen)
{
	if (!out)
		return -EINVAL;
	if (outlen < LADING_CACHEFILES_VOLUME_XATTR_LEN)
		return -ENOSPC;
	memset(out, 0, LADING_CACHEFILES_VOLUME_XATTR_LEN);	/* reserved */
	return LADING_CACHEFILES_VOLUME_XATTR_LEN;	/* no coherency data */
}
