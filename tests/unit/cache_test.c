// SPDX-License-Identifier: MIT
/*
 * cachefiles naming: the reference vectors in data/ (observed on a 6.1
 * kernel and computed from its sources) plus vectors derived by hand from
 * the Linux 6.1 rules (fs/fscache/{main,volume,cookie}.c,
 * fs/cachefiles/{key,volume,namei,xattr}.c, fs/erofs/fscache.c).
 *
 * Where a fan-out byte (@xx) is given below, it comes from executing the
 * kernel's hash step by step in a separate scratch re-implementation
 * (python, written from the kernel source, not from lib/cache), which
 * reproduces every line of data/cachefiles-vectors.tsv; the names
 * (D/S/T/E forms) are derived by hand in the comments.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <lading/cache.h>
#include <lading/cachefiles.h>
#include <lading/fetch.h>
#include "check.h"

/* The reference vectors ship with the tests (tests/unit/data). */
#ifndef LADING_VECTORS_FILE
#define LADING_VECTORS_FILE "data/cachefiles-vectors.tsv"
#endif

static char buf[LADING_CACHEFILES_PATH_MAX];

/* Checks that object_path(vkey, key) == want, and reports what it got. */
static void check_path(const char *vkey, const void *key, size_t len,
		       const char *want)
{
	int ret = lading_cachefiles_object_path(vkey, key, len, buf,
						sizeof(buf));

	check_count++;
	if (ret < 0 || strcmp(buf, want) != 0 || (size_t)ret != strlen(want)) {
		check_failures++;
		fprintf(stderr, "object_path(%s, %zu bytes): got %d \"%s\", want \"%s\"\n",
			vkey, len, ret, ret < 0 ? "" : buf, want);
	}
}

static void check_str_path(const char *vkey, const char *key, const char *want)
{
	check_path(vkey, key, strlen(key), want);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes a hex string (ends at NUL, tab or newline); -1 if malformed. */
static long unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*s && *s != '\t' && *s != '\n' && *s != '\r') {
		int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);

		if (lo < 0 || n == cap)
			return -1;
		out[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return (long)n;
}

/* ---- the hash itself, executed by hand ---------------------------------- */

static void test_hash(void)
{
	static const uint8_t zero[4], one[4] = { 1, 0, 0, 0 };

	/* No words: x = 0, y = salt -> (salt ^ 0 * G) * G = salt * G. */
	CHECK_EQ_U64(lading_cachefiles_hash(0, "", 0), 0);
	CHECK_EQ_U64(lading_cachefiles_hash(5, "", 0), 5u * 0x61C88647u);
	/* One zero word with salt 0 keeps everything 0. */
	CHECK_EQ_U64(lading_cachefiles_hash(0, zero, 4), 0);
	/*
	 * One word a = 1, salt 0: x = 1; y = 1; x = rol32(1, 7) = 0x80;
	 * x += y -> 0x81; y = rol32(1, 20) = 0x100000; y *= 9 -> 0x900000.
	 * x * G = 0x81 * 0x61C88647 = 0x460ba9c7 (mod 2^32);
	 * (0x900000 ^ 0x460ba9c7) * G = 0x469ba9c7 * G = 0x1a824031.
	 */
	CHECK_EQ_U64(lading_cachefiles_hash(0, one, 4), 0x1a824031u);
	/* Only whole words count: a trailing partial word is ignored. */
	CHECK_EQ_U64(lading_cachefiles_hash(0, "\1\0\0\0\7", 5), 0x1a824031u);
}

/*
 * The fan-out byte is the low byte of hash(salt = volume hash, cookie key
 * zero-padded to whole words); the volume hash is hash(0, [klen] key NUL,
 * zero-padded to whole words).  Checks that composition for one vector.
 */
static void test_hash_composition(void)
{
	/* "erofs,d" (7): 07 'e' 'r' 'o' | 'f' 's' ',' 'd' | 00 00 00 00 */
	static const uint8_t vbuf[12] = { 7, 'e', 'r', 'o', 'f', 's', ',', 'd' };
	/* "a/b" padded to 'a' '/' 'b' 00 */
	static const uint8_t cbuf[4] = { 'a', '/', 'b', 0 };
	uint32_t vh = lading_cachefiles_hash(0, vbuf, sizeof(vbuf));

	CHECK_EQ_U64(vh, 0xd7adcaf0u);	/* scratch re-implementation */
	/* The reference vectors put "a/b" under @af in volume "erofs,d". */
	CHECK_EQ_U64(lading_cachefiles_hash(vh, cbuf, 4) & 0xff, 0xaf);
}

/* ---- hand-derived object paths ------------------------------------------ */

static void test_derived_paths(void)
{
	static const uint8_t k_abc0[4] = { 'a', 'b', 'c', 0 };
	static const uint8_t k_80[1] = { 0x80 };
	static const uint8_t k_zero4[4] = { 0, 0, 0, 0 };
	static const uint8_t k_be1[8] = { 0, 0, 0, 1, 0, 0, 0, 0 };
	static const uint8_t k_le1[4] = { 1, 0, 0, 0 };
	static const uint8_t k_pal[4] = { 0, 1, 1, 0 };
	static uint8_t big[256];
	char want[LADING_CACHEFILES_PATH_MAX];

	/*
	 * Short ASCII, length not a multiple of 4 (padded "abc\0" for the
	 * hash): every byte in 0x21-0x2e/0x30-0x7f -> "D" + key.
	 */
	check_str_path("erofs,d", "abc", "cache/Ierofs,d/@1b/Dabc");
	/* A multiple of 4: no padding, another hash. */
	check_str_path("erofs,d", "abcd", "cache/Ierofs,d/@89/Dabcd");
	/*
	 * "abc\0" hashes exactly like "abc" (same padded words, hence the
	 * same @1b) but holds a NUL: not a D name.  One word: BE 0x61626300
	 * (8 digits, nbe = 9), LE 0x00636261 (6 digits, nle = 7);
	 * b64len = 2 + 4 * ceil(4 / 3) = 10; nle < 10 and nle < nbe -> 'T'
	 * with the little-endian word: "T636261".
	 */
	check_path("erofs,d", k_abc0, 4, "cache/Ierofs,d/@1b/T636261");

	/* A 64-char lowercase hex tag (sha256 of ""), fsid-keyed volume. */
	check_str_path("erofs,4f2a9c1e",
		       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		       "cache/Ierofs,4f2a9c1e/@f3/"
		       "De3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* "sha256:" + sha256("lading"): ':' (0x3a) is allowed raw. */
	check_str_path("erofs,4f2a9c1e",
		       "sha256:a7335462106598202728f83209f89147aa7ada0f006d8d85ea3892cbf8597d4a",
		       "cache/Ierofs,4f2a9c1e/@98/"
		       "Dsha256:a7335462106598202728f83209f89147aa7ada0f006d8d85ea3892cbf8597d4a");

	/* The edges of the raw set: '!' 0x21, '.' 0x2e, '0' 0x30, DEL 0x7f. */
	check_str_path("erofs,d", "!.0~", "cache/Ierofs,d/@32/D!.0~");
	check_str_path("erofs,d", "a\x7f" "b", "cache/Ierofs,d/@bc/Da\x7f" "b");

	/*
	 * 0x80 alone: word BE 0x80000000 (nbe = 9), LE 0x80 (nle = 3);
	 * b64len = 6; 3 < 6 -> "T80".
	 */
	check_path("erofs,d", k_80, 1, "cache/Ierofs,d/@b4/T80");
	/* Four zero bytes: one zero word prints no digits; nbe = nle = 1 -> "S". */
	check_path("erofs,d", k_zero4, 4, "cache/Ierofs,d/@34/S");
	/*
	 * 00000001 00000000: BE words 1, 0 -> nbe = 2 + 1 = 3; LE 0x01000000
	 * (7 digits), 0 -> nle = 9; b64len = 14 -> "S1,".
	 */
	check_path("erofs,d", k_be1, 8, "cache/Ierofs,d/@f7/S1,");
	/* 01000000: BE 0x01000000 (nbe = 8), LE 1 (nle = 2) -> "T1". */
	check_path("erofs,d", k_le1, 4, "cache/Ierofs,d/@2d/T1");
	/* 00010100 reads the same both ways: nbe == nle -> 'S' wins: "S10100". */
	check_path("erofs,d", k_pal, 4, "cache/Ierofs,d/@24/S10100");
	/*
	 * "a\tb": BE 0x61096200 (nbe = 9), LE 0x00620961 (nle = 7), b64len = 6
	 * -> base64, pad 0: acc = 0x61 | 0x09 << 8 | 0x62 << 16 = 0x620961;
	 * 6-bit groups low first: 0x21 'x', 0x25 'B', 0x20 'w', 0x18 'o'.
	 */
	check_str_path("erofs,d", "a\tb", "cache/Ierofs,d/@ad/E0xBwo");

	/* Very long keys.  252 'y' (the kernel's maximum): "D" + 252 chars. */
	memset(big, 'y', 252);
	strcpy(want, "cache/Ierofs,d/@4a/D");
	memset(want + strlen(want), 'y', 252);
	want[20 + 252] = '\0';
	check_path("erofs,d", big, 252, want);
	/* 253 bytes: cachefiles_cook_key() has BUG_ON(keylen > NAME_MAX - 3). */
	CHECK_EQ_U64(lading_cachefiles_object_path("erofs,d", big, 253, buf, sizeof(buf)),
		     (unsigned long long)-ENAMETOOLONG);
	CHECK_EQ_U64(lading_cachefiles_object_path("erofs,d", big, 256, buf, sizeof(buf)),
		     (unsigned long long)-ENAMETOOLONG);
	/*
	 * 189 bytes 0xff: 48 words, BE 47 * 9 + 9 = 432, LE 47 * 9 + 3 = 426,
	 * b64len = 2 + 63 * 4 = 254: base64, pad 0, every group 63 '-':
	 * "E0" + 252 '-' (254 chars, just fits NAME_MAX).
	 */
	memset(big, 0xff, 190);
	strcpy(want, "cache/Ierofs,d/@fe/E0");
	memset(want + strlen(want), '-', 252);
	want[21 + 252] = '\0';
	check_path("erofs,d", big, 189, want);
	/* 190 bytes: b64len = 2 + 64 * 4 = 258 > NAME_MAX. */
	CHECK_EQ_U64(lading_cachefiles_object_path("erofs,d", big, 190, buf, sizeof(buf)),
		     (unsigned long long)-ENAMETOOLONG);
	/* 252 zero bytes: 63 zero words -> "S" + 62 ','. */
	memset(big, 0, 252);
	strcpy(want, "cache/Ierofs,d/@dd/S");
	memset(want + strlen(want), ',', 62);
	want[20 + 62] = '\0';
	check_path("erofs,d", big, 252, want);
	/*
	 * 63 words 0000ffff: BE nbe = 63 * 5 = 315 < b64len 338 -> S form,
	 * but 315 chars exceed NAME_MAX.
	 */
	for (size_t i = 0; i < 252; i += 4)
		memcpy(big + i, "\0\0\xff\xff", 4);
	CHECK_EQ_U64(lading_cachefiles_object_path("erofs,d", big, 252, buf, sizeof(buf)),
		     (unsigned long long)-ENAMETOOLONG);

	/* Volume keys are used raw for the directory, odd bytes and all. */
	check_str_path("erofs,a b\x01", "boot", "cache/Ierofs,a b\x01/@d1/Dboot");
	check_str_path("erofs,", "boot", "cache/Ierofs,/@cd/Dboot");
}

static void test_path_errors(void)
{
	char small[8], vkey[300];

	CHECK_EQ_U64(lading_cachefiles_object_path("erofs,d", "x", 0, buf, sizeof(buf)),
		     (unsigned long long)-EINVAL);
	CHECK_EQ_U64(lading_cachefiles_object_path(NULL, "x", 1, buf, sizeof(buf)),
		     (unsigned long long)-EINVAL);
	CHECK_EQ_U64(lading_cachefiles_object_path("erofs,d", NULL, 1, buf, sizeof(buf)),
		     (unsigned long long)-EINVAL);
	CHECK_EQ_U64(lading_cachefiles_object_path("erofs,a/b", "x", 1, buf, sizeof(buf)),
		     (unsigned long long)-EINVAL);
	CHECK_EQ_U64(lading_cachefiles_object_path("erofs,d", "x", 1, small, sizeof(small)),
		     (unsigned long long)-ENOSPC);
	/* "cache/Ierofs,d/@xx/Dx" is 21 chars: 21 does not fit, 22 does. */
	CHECK_EQ_U64(lading_cachefiles_object_path("erofs,d", "x", 1, buf, 21),
		     (unsigned long long)-ENOSPC);
	CHECK_EQ_U64(lading_cachefiles_object_path("erofs,d", "x", 1, buf, 22), 21);
	/* "I" + key must fit NAME_MAX: 254 bytes do, 255 do not. */
	memset(vkey, 'v', 254);
	vkey[254] = '\0';
	CHECK(lading_cachefiles_object_path(vkey, "x", 1, buf, sizeof(buf)) > 0);
	CHECK(lading_cachefiles_volume_dir(vkey, buf, sizeof(buf)) == 6 + 255);
	vkey[254] = 'v';
	vkey[255] = '\0';
	CHECK_EQ_U64(lading_cachefiles_object_path(vkey, "x", 1, buf, sizeof(buf)),
		     (unsigned long long)-ENAMETOOLONG);
	CHECK_EQ_U64(lading_cachefiles_volume_dir(vkey, buf, sizeof(buf)),
		     (unsigned long long)-ENAMETOOLONG);
}

static void test_volume_key(void)
{
	char small[8], fsid[300];

	CHECK_EQ_U64(lading_cachefiles_volume_key("test.img", NULL, buf, sizeof(buf)), 14);
	CHECK(!strcmp(buf, "erofs,test.img"));
	/* A domain replaces the fsid in the volume key. */
	CHECK_EQ_U64(lading_cachefiles_volume_key("test.img", "mydomain", buf, sizeof(buf)), 14);
	CHECK(!strcmp(buf, "erofs,mydomain"));
	/* The kernel tests domain_id for NULL only: "" gives "erofs,". */
	CHECK_EQ_U64(lading_cachefiles_volume_key("x", "", buf, sizeof(buf)), 6);
	CHECK(!strcmp(buf, "erofs,"));
	CHECK_EQ_U64(lading_cachefiles_volume_key(NULL, "d", buf, sizeof(buf)),
		     (unsigned long long)-EINVAL);
	CHECK_EQ_U64(lading_cachefiles_volume_key("", NULL, buf, sizeof(buf)),
		     (unsigned long long)-EINVAL);
	CHECK_EQ_U64(lading_cachefiles_volume_key("a/b", NULL, buf, sizeof(buf)),
		     (unsigned long long)-EINVAL);
	CHECK_EQ_U64(lading_cachefiles_volume_key("abc", NULL, small, sizeof(small)),
		     (unsigned long long)-ENOSPC);
	/* "erofs," + 248 = 254 bytes is the longest usable key. */
	memset(fsid, 'f', 248);
	fsid[248] = '\0';
	CHECK_EQ_U64(lading_cachefiles_volume_key(fsid, NULL, buf, sizeof(buf)), 254);
	fsid[248] = 'f';
	fsid[249] = '\0';
	CHECK_EQ_U64(lading_cachefiles_volume_key(fsid, NULL, buf, sizeof(buf)),
		     (unsigned long long)-ENAMETOOLONG);

	CHECK_EQ_U64(lading_cachefiles_volume_dir("erofs,d", buf, sizeof(buf)), 14);
	CHECK(!strcmp(buf, "cache/Ierofs,d"));
}

static void test_xattrs(void)
{
	uint8_t x[32];
	static const uint8_t want_obj[18] = {
		1, 2, 3, 4, 5, 6, 7, 8,		/* be64 object_size */
		0, 0, 0, 0, 0, 0, 0, 0,		/* be64 zero_point */
		1,				/* type: data */
		0,				/* content: no data */
	};

	memset(x, 0xaa, sizeof(x));
	CHECK_EQ_U64(lading_cachefiles_object_xattr(0x0102030405060708ull, x, sizeof(x)), 18);
	CHECK(!memcmp(x, want_obj, 18));
	CHECK_EQ_U64(x[18], 0xaa);	/* nothing past the 18 bytes */
	CHECK_EQ_U64(lading_cachefiles_object_xattr(1, x, 17), (unsigned long long)-ENOSPC);
	CHECK_EQ_U64(lading_cachefiles_object_xattr(0, x, 18), 18);
	CHECK_EQ_U64(x[7], 0);

	memset(x, 0xaa, sizeof(x));
	CHECK_EQ_U64(lading_cachefiles_volume_xattr(x, sizeof(x)), 4);
	CHECK(!memcmp(x, "\0\0\0\0", 4));
	CHECK_EQ_U64(x[4], 0xaa);
	CHECK_EQ_U64(lading_cachefiles_volume_xattr(x, 3), (unsigned long long)-ENOSPC);
	CHECK(!strcmp(LADING_CACHEFILES_XATTR, "user.CacheFiles.cache"));
}

/* ---- data/cachefiles-vectors.tsv ----------------------------------------- */

static void vector_comment(const char *line, int *n_xattr)
{
	static const char obj[] = "# object xattr user.CacheFiles.cache for object_size ";
	static const char vol[] = "# volume xattr user.CacheFiles.cache: ";
	uint8_t want[64], got[64];
	long n;

	if (!strncmp(line, obj, sizeof(obj) - 1)) {
		char *end;
		unsigned long long size = strtoull(line + sizeof(obj) - 1, &end, 10);

		CHECK(end[0] == ':' && end[1] == ' ');
		n = unhex(end + 2, want, sizeof(want));
		CHECK_EQ_U64(n, 18);
		CHECK_EQ_U64(lading_cachefiles_object_xattr(size, got, sizeof(got)), n);
		CHECK(n > 0 && !memcmp(got, want, (size_t)n));
		(*n_xattr)++;
	} else if (!strncmp(line, vol, sizeof(vol) - 1)) {
		n = unhex(line + sizeof(vol) - 1, want, sizeof(want));
		CHECK_EQ_U64(n, 4);
		CHECK_EQ_U64(lading_cachefiles_volume_xattr(got, sizeof(got)), n);
		CHECK(n > 0 && !memcmp(got, want, (size_t)n));
		(*n_xattr)++;
	}
}

/* The vectors are part of the repository: a missing file is a failure. */
static void test_vector_file(void)
{
	const char *path = LADING_VECTORS_FILE;
	char line[8192], vdir[LADING_CACHEFILES_PATH_MAX];
	uint8_t key[512];
	int n_paths = 0, n_xattr = 0;
	FILE *f;

	f = fopen(path, "r");
	CHECK(f != NULL);
	if (!f) {
		printf("cache_test: cannot open %s\n", path);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char *vkey = line, *hex, *want, *nl;
		long klen;

		nl = strpbrk(line, "\r\n");
		if (nl)
			*nl = '\0';
		if (line[0] == '#') {
			vector_comment(line, &n_xattr);
			continue;
		}
		if (!line[0])
			continue;
		hex = strchr(vkey, '\t');
		want = hex ? strchr(hex + 1, '\t') : NULL;
		CHECK(hex && want);
		if (!hex || !want)
			continue;
		*hex++ = '\0';
		*want++ = '\0';
		klen = unhex(hex, key, sizeof(key));
		CHECK(klen > 0);
		if (klen <= 0)
			continue;
		check_path(vkey, key, (size_t)klen, want);
		/* The volume directory is the path's prefix. */
		CHECK(lading_cachefiles_volume_dir(vkey, vdir, sizeof(vdir)) > 0);
		CHECK(!strncmp(want, vdir, strlen(vdir)) && want[strlen(vdir)] == '/');
		n_paths++;
	}
	fclose(f);
	printf("cache_test: %d path vectors, %d xattr vectors from %s\n",
	       n_paths, n_xattr, path);
	CHECK(n_paths > 0);
	CHECK_EQ_U64(n_xattr, 2);
}

int main(void)
{
	test_hash();
	test_hash_composition();
	test_derived_paths();
	test_path_errors();
	test_volume_key();
	test_xattrs();
	test_vector_file();
	return check_summary("cache");
}
