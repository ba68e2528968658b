// SPDX-License-Identifier: MIT
/*
 * reader_mutate: deterministic bootstrap mutator for tests/fuzz.
 *
 *   reader_mutate [-n COUNT] [-s SEED] OUTDIR IMAGE...
 *
 * Writes COUNT mutated copies of the IMAGEs (round robin) to OUTDIR as
 * mNNNNN-<kind>-<region>[-crc].img.  Mutations: bit flips, byte overwrites
 * (0x00, 0xff, random), 16/32/64-bit overwrites with boundary values (at
 * random offsets, at superblock fields, at inode fields), truncations at
 * random lengths and at block boundaries; the unstructured ones anywhere,
 * in block 0, in the superblock or in the metadata blocks.  Most of the
 * untruncated ones get a fresh superblock CRC32C (and the SB_CHKSUM compat
 * bit) so they get past the checksum into the inode, xattr, directory and
 * chunk code.
 *
 * Then, per image, a few sweep mutants (sNNN-sweepK.img) that put one
 * boundary value into the same field of every inode-looking slot.
 *
 * The PRNG is splitmix64, seeded by -s: the same arguments give the same
 * files.  The CRC is computed here independently of liblading.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLK 4096u
#define SB_OFF 1024u
#define SB_CHKSUM 0x1u

struct image {
	uint8_t *data;
	size_t len;
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	while (n--) {
		int k;

		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
	}
	return crc;
}

static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put(uint8_t *p, uint64_t v, unsigned bytes)
{
	unsigned i;

	for (i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t sb_crc(const uint8_t *img)
{
	uint8_t blk[BLK - SB_OFF];

	memcpy(blk, img + SB_OFF, sizeof(blk));
	memset(blk + 4, 0, 4);
	return crc32c(0xFFFFFFFFu, blk, sizeof(blk));
}

/* Sets SB_CHKSUM and stores a correct superblock checksum. */
static void fix_crc(uint8_t *img, size_t len)
{
	if (len < BLK)
		return;
	put(img + SB_OFF + 8, get32(img + SB_OFF + 8) | SB_CHKSUM, 4);
	put(img + SB_OFF + 4, sb_crc(img), 4);
}

/* A region [lo, hi) to mutate in. */
enum region { ANYWHERE, BLOCK0, SUPER, META, NREGIONS };
static const char *const region_names[] = { "any", "blk0", "sb", "meta" };

static void region_bounds(const struct image *im, enum region rg, size_t *lo,
			  size_t *hi)
{
	size_t meta = (size_t)get32(im->data + SB_OFF + 40) * BLK;

	*lo = 0;
	*hi = im->len;
	if (rg == BLOCK0) {
		*hi = BLK;
	} else if (rg == SUPER) {
		*lo = SB_OFF;
		*hi = SB_OFF + 128 + 16;
	} else if (rg == META) {
		*lo = meta ? meta : SB_OFF + 128;
	}
}

static size_t pick(size_t lo, size_t hi, size_t width)
{
	if (hi - lo <= width)
		return lo;
	return lo + (size_t)below(hi - lo - width + 1);
}

static uint64_t boundary(const struct image *im, unsigned bytes)
{
	const uint64_t v[] = {
		0, 1, 2, 3, 4, 7, 8, 12, 31, 32, 63, 64, 0x7f, 0x80, 0xff, 0x100,
		0xfff, 0x1000, 0x1001, 0x7fff, 0x8000, 0xffff, 0x10000,
		0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
		0x100000000ull, 0x7fffffffffffffffull, 0x8000000000000000ull,
		0xfffffffffffff000ull, 0xfffffffffffffffeull, UINT64_MAX,
		im->len, im->len / BLK, im->len / BLK + 1, im->len / 32,
		im->len / 32 + 1, im->len - 1,
	};
	uint64_t x = v[below(sizeof(v) / sizeof(v[0]))];

	if (below(4) == 0)
		x += below(3) - 1;	/* off by one either way */
	return bytes == 8 ? x : x & ((1ull << (8 * bytes)) - 1);
}

static void op_bits(struct image *im, size_t lo, size_t hi)
{
	unsigned n = 1 + (unsigned)below(8), i;

	for (i = 0; i < n; i++)
		im->data[pick(lo, hi, 1)] ^= (uint8_t)(1u << below(8));
}

static void op_bytes(struct image *im, size_t lo, size_t hi)
{
	unsigned n = 1 + (unsigned)below(8), i;

	for (i = 0; i < n; i++) {
		uint64_t k = below(3);

		im->data[pick(lo, hi, 1)] = k == 0 ? 0x00 : k == 1 ? 0xff :
					    (uint8_t)rnd();
	}
}

static void op_field(struct image *im, size_t lo, size_t hi)
{
	static const unsigned widths[] = { 2, 4, 4, 4, 8 };
	unsigned w = widths[below(5)];
	size_t at = pick(lo, hi, w);

	if (below(4))
		at &= ~(size_t)(w - 1);		/* usually aligned */
	if (at < lo || at + w > im->len)
		return;
	put(im->data + at, boundary(im, w), w);
}

/* A boundary value into a real superblock field (sealed by the caller). */
static void op_super(struct image *im)
{
	static const struct { uint8_t off, width; } f[] = {
		{ 8, 4 }, { 12, 1 }, { 13, 1 }, { 14, 2 }, { 16, 8 }, { 24, 8 },
		{ 32, 4 }, { 36, 4 }, { 40, 4 }, { 44, 4 }, { 80, 4 }, { 84, 2 },
		{ 86, 2 }, { 88, 2 }, { 90, 1 }, { 91, 1 }, { 92, 4 }, { 96, 8 },
		{ 112, 8 },
	};
	unsigned k = (unsigned)below(sizeof(f) / sizeof(f[0]));

	put(im->data + SB_OFF + f[k].off, boundary(im, f[k].width), f[k].width);
}

/*
 * A boundary value into an inode field: inodes sit on 32-byte slots from
 * meta_blkaddr on, so a random slot plus a field offset of the compact or
 * extended layout often lands on a real field.
 */
static void op_inode(struct image *im)
{
	static const struct { uint8_t off, width; } f[] = {
		{ 0, 2 }, { 2, 2 }, { 4, 2 }, { 6, 2 }, { 8, 4 }, { 8, 8 },
		{ 12, 4 }, { 16, 4 }, { 16, 2 }, { 20, 4 }, { 24, 2 }, { 24, 4 },
		{ 26, 2 }, { 28, 4 }, { 32, 8 }, { 40, 4 }, { 44, 4 }, { 48, 8 },
	};
	size_t meta = (size_t)get32(im->data + SB_OFF + 40) * BLK, slot;
	unsigned k = (unsigned)below(sizeof(f) / sizeof(f[0]));

	if (meta >= im->len)
		meta = 0;
	slot = meta + (size_t)below((im->len - meta) / 32) * 32;
	if (slot + f[k].off + f[k].width <= im->len)
		put(im->data + slot + f[k].off, boundary(im, f[k].width),
		    f[k].width);
}

/* Truncation: random length, or at/around a block boundary. */
static void op_truncate(struct image *im, int at_block)
{
	size_t n;

	if (at_block) {
		n = (size_t)below(im->len / BLK + 1) * BLK;
		n += (size_t)below(3) - 1;
		if (n > im->len)
			n = im->len;
	} else {
		n = (size_t)below(im->len);
	}
	im->len = n;
}

enum kind {
	K_BITS, K_BYTES, K_FIELD, K_MIX, K_TRUNC, K_TRUNC_BLK, K_SUPER, K_INODE,
	NKINDS
};
static const char *const kind_names[] = {
	"bits", "bytes", "field", "mix", "trunc", "truncblk", "super", "inode",
};

static void mutate_once(struct image *im, enum kind k, enum region rg)
{
	size_t lo, hi;

	region_bounds(im, rg, &lo, &hi);
	if (hi > im->len)
		hi = im->len;
	if (lo >= hi)
		return;
	switch (k) {
	case K_BITS: op_bits(im, lo, hi); break;
	case K_BYTES: op_bytes(im, lo, hi); break;
	default: op_field(im, lo, hi); break;
	}
}

/* Builds mutant number i; returns its file name. */
static void make_mutant(struct image *im, unsigned long i, char *name,
			size_t namelen)
{
	enum kind k = (enum kind)below(NKINDS);
	enum region rg = (enum region)below(NREGIONS);
	int crc = 0;

	if (k == K_SUPER || k == K_INODE) {
		unsigned n = 1 + (unsigned)below(3), j;

		rg = k == K_SUPER ? SUPER : META;
		for (j = 0; j < n; j++) {
			if (k == K_SUPER)
				op_super(im);
			else
				op_inode(im);
		}
		crc = below(8) != 0;
		if (crc)
			fix_crc(im->data, im->len);
	} else if (k == K_TRUNC || k == K_TRUNC_BLK) {
		if (below(2))	/* sometimes damage before cutting */
			mutate_once(im, (enum kind)below(3), rg);
		op_truncate(im, k == K_TRUNC_BLK);
	} else {
		unsigned n = k == K_MIX ? 2 + (unsigned)below(4) : 1, j;

		for (j = 0; j < n; j++)
			mutate_once(im, k == K_MIX ? (enum kind)below(3) : k, rg);
		crc = below(3) != 0;
		if (crc)
			fix_crc(im->data, im->len);
	}
	snprintf(name, namelen, "m%05lu-%s-%s%s.img", i, kind_names[k],
		 region_names[rg], crc ? "-crc" : "");
}

/* Does the 32-byte slot at p look like an inode (and which kind)? */
static int inode_kind(const struct image *im, size_t at)
{
	const uint8_t *p = im->data + at;
	unsigned fmt = p[0] | p[1] << 8, mode = p[4] | p[5] << 8;
	unsigned type = mode & 0170000, layout = (fmt >> 1) & 7;

	if (at + 64 > im->len || (fmt & ~0x1fu) || (layout != 0 && layout != 2 &&
	    layout != 4))
		return 0;
	if (type != 0100000 && type != 0040000 && type != 0120000 &&
	    type != 0020000 && type != 0060000 && type != 0010000 &&
	    type != 0140000)
		return 0;
	return (fmt & 1) ? 2 : 1;
}

/*
 * Sweep mutants: the same boundary value into one field of every slot that
 * looks like an inode of one kind.  Rare for random mutation, cheap here:
 * sizes that overflow size-to-blocks arithmetic, mtimes that overflow the
 * epoch.  Returns false when nothing matched.
 */
static bool sweep(struct image *im, unsigned which)
{
	size_t meta = (size_t)get32(im->data + SB_OFF + 40) * BLK, at;
	static const uint64_t big[] = {
		UINT64_MAX, 0xfffffffffffff001ull, 0x8000000000000000ull,
		0xfffffffffffffffeull,
	};
	bool hit = false;

	if (which == 0)		/* epoch near INT64_MAX, compact mtimes max */
		put(im->data + SB_OFF + 24, 0x7fffffffffffffffull, 8);
	for (at = meta; at + 64 <= im->len; at += 32) {
		int kind = inode_kind(im, at);

		if (which == 0 && kind == 1) {
			put(im->data + at + 12, 0xffffffff, 4);
			hit = true;
		} else if (which >= 1 && which <= 4 && kind == 2) {
			put(im->data + at + 8, big[which - 1], 8);
			hit = true;
		} else if (which == 5 && kind == 1) {
			put(im->data + at + 8, 0xffffffff, 4);
			hit = true;
		}
	}
	fix_crc(im->data, im->len);
	return hit;
}
#define NSWEEPS 6

static int load(const char *path, struct image *im)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET))
		goto fail;
	im->len = (size_t)n;
	im->data = malloc(im->len ? im->len : 1);
	if (!im->data || fread(im->data, 1, im->len, f) != im->len)
		goto fail;
	fclose(f);
	if (im->len < BLK || get32(im->data + SB_OFF) != 0xE0F5E1E2u) {
		fprintf(stderr, "reader_mutate: %s: not an EROFS image\n", path);
		return -1;
	}
	/* cross-check this CRC with the image's writer */
	if ((get32(im->data + SB_OFF + 8) & SB_CHKSUM) &&
	    get32(im->data + SB_OFF + 4) != sb_crc(im->data)) {
		fprintf(stderr, "reader_mutate: %s: stored superblock CRC 0x%08x, "
			"computed 0x%08x\n", path, get32(im->data + SB_OFF + 4),
			sb_crc(im->data));
		return -1;
	}
	return 0;
fail:
	fprintf(stderr, "reader_mutate: %s: %s\n", path, strerror(errno));
	if (f)
		fclose(f);
	return -1;
}

static int save(const char *dir, const char *name, const struct image *im)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(im->data, 1, im->len, f) != im->len || fclose(f)) {
		fprintf(stderr, "reader_mutate: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long count = 2000, i;
	struct image *seeds;
	int a = 1, nseeds, j;

	rng_state = 1;
	for (; a + 1 < argc && argv[a][0] == '-'; a += 2) {
		if (strcmp(argv[a], "-n") == 0)
			count = strtoul(argv[a + 1], NULL, 0);
		else if (strcmp(argv[a], "-s") == 0)
			rng_state = strtoull(argv[a + 1], NULL, 0);
		else
			break;
	}
	if (argc - a < 2) {
		fprintf(stderr, "usage: reader_mutate [-n COUNT] [-s SEED] OUTDIR "
			"IMAGE...\n");
		return 2;
	}
	nseeds = argc - a - 1;
	seeds = calloc((size_t)nseeds, sizeof(*seeds));
	for (j = 0; seeds && j < nseeds; j++)
		if (load(argv[a + 1 + j], &seeds[j]))
			return 2;
	for (i = 0; seeds && i < count; i++) {
		const struct image *s = &seeds[i % (unsigned long)nseeds];
		struct image m = { malloc(s->len), s->len };
		char name[64];

		if (!m.data)
			return 2;
		memcpy(m.data, s->data, s->len);
		make_mutant(&m, i, name, sizeof(name));
		if (save(argv[a], name, &m))
			return 2;
		free(m.data);
	}
	for (j = 0; seeds && j < nseeds; j++) {
		unsigned w;

		for (w = 0; w < NSWEEPS; w++) {
			struct image m = { malloc(seeds[j].len), seeds[j].len };
			char name[64];

			if (!m.data)
				return 2;
			memcpy(m.data, seeds[j].data, m.len);
			snprintf(name, sizeof(name), "s%03d-sweep%u.img", j, w);
			if (sweep(&m, w) && save(argv[a], name, &m))
				return 2;
			free(m.data);
		}
		free(seeds[j].data);
	}
	free(seeds);
	printf("reader_mutate: %lu mutants in %s\n", count, argv[a]);
	return seeds ? 0 : 2;
}
