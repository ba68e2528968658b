// SPDX-License-Identifier: MIT
/*
 * The chunk dedup index, shareable by several stores (one per layer when
 * converting an image) and seeded from earlier images' blobs (chunk
 * dictionaries).  It also hands out device ids (blob slots) in the order
 * blobs first need one, so a dictionary blob only gets a slot when a chunk
 * of it is actually used.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <lading/store.h>

#define NO_DICT 0xffffu

struct dedup_entry {
	uint8_t digest[LADING_SHA256_LEN];
	uint32_t len;
	uint32_t blkaddr;
	uint16_t device_id;	/* 0 for dictionary chunks until used */
	uint16_t dict;		/* index into dicts, or NO_DICT */
	bool used;
};

struct dict_blob {
	struct lading_blob_record rec;
	uint16_t device_id;	/* 0 until a chunk of it is referenced */
};

struct lading_dedup {
	struct dedup_entry *slots;
	size_t cap, used;
	uint16_t next_device;
	struct dict_blob *dicts;
	size_t ndicts;
};

int lading_dedup_new(struct lading_dedup **out)
{
	struct lading_dedup *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->cap = 4096;
	d->slots = calloc(d->cap, sizeof(*d->slots));
	if (!d->slots) {
		free(d);
		return -ENOMEM;
	}
	d->next_device = 1;
	*out = d;
	return 0;
}

void lading_dedup_free(struct lading_dedup *d)
{
	if (!d)
		return;
	free(d->slots);
	free(d->dicts);
	free(d);
}

int lading_dedup_alloc_device(struct lading_dedup *d, uint16_t *device_id)
{
	if (d->next_device == 0xffff)
		return -ENOSPC;
	*device_id = d->next_device++;
	return 0;
}

static size_t probe(const struct lading_dedup *d, const uint8_t *digest,
		    uint32_t len)
{
	uint64_t h;
	size_t j;

	memcpy(&h, digest, sizeof(h));
	j = (size_t)(h ^ len) & (d->cap - 1);
	while (d->slots[j].used &&
	       (d->slots[j].len != len ||
		memcmp(d->slots[j].digest, digest, LADING_SHA256_LEN)))
		j = (j + 1) & (d->cap - 1);
	return j;
}

static int grow(struct lading_dedup *d)
{
	struct dedup_entry *old = d->slots;
	size_t oldcap = d->cap, i;

	d->slots = calloc(oldcap * 2, sizeof(*d->slots));
	if (!d->slots) {
		d->slots = old;
		return -ENOMEM;
	}
	d->cap = oldcap * 2;
	for (i = 0; i < oldcap; i++)
		if (old[i].used)
			d->slots[probe(d, old[i].digest, old[i].len)] = old[i];
	free(old);
	return 0;
}

int lading_dedup_lookup(struct lading_dedup *d, const uint8_t *digest,
			uint32_t len, struct lading_chunk_ref *ref)
{
	struct dedup_entry *e = &d->slots[probe(d, digest, len)];
	int ret;

	if (!e->used)
		return -ENOENT;
	if (e->dict != NO_DICT && !d->dicts[e->dict].device_id) {
		ret = lading_dedup_alloc_device(d, &d->dicts[e->dict].device_id);
		if (ret)
			return ret;
	}
	*ref = (struct lading_chunk_ref){
		.blkaddr = e->blkaddr,
		.device_id = e->dict != NO_DICT ? d->dicts[e->dict].device_id :
						  e->device_id,
	};
	return 0;
}

static int insert(struct lading_dedup *d, const uint8_t *digest, uint32_t len,
		  uint16_t device_id, uint32_t blkaddr, uint16_t dict)
{
	size_t j = probe(d, digest, len);

	if (d->slots[j].used)
		return 0;	/* first one wins: keep references stable */
	d->slots[j] = (struct dedup_entry){ .len = len, .blkaddr = blkaddr,
					    .device_id = device_id, .dict = dict,
					    .used = true };
	memcpy(d->slots[j].digest, digest, LADING_SHA256_LEN);
	if (++d->used * 2 > d->cap)
		return grow(d);
	return 0;
}

int lading_dedup_insert(struct lading_dedup *d, const uint8_t *digest,
			uint32_t len, const struct lading_chunk_ref *ref)
{
	return insert(d, digest, len, ref->device_id, ref->blkaddr, NO_DICT);
}

int lading_dedup_add_dict(struct lading_dedup *d,
			  const struct lading_blob_record *rec,
			  const struct lading_toc *toc)
{
	struct dict_blob *n;
	size_t i;
	int ret;

	if (d->ndicts == NO_DICT)
		return -ENOSPC;
	n = realloc(d->dicts, (d->ndicts + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	d->dicts = n;
	d->dicts[d->ndicts] = (struct dict_blob){ .rec = *rec };
	for (i = 0; i < toc->count; i++) {
		const struct lading_toc_entry *e = &toc->entries[i];

		ret = insert(d, e->digest, lading_le32_to_cpu(e->ulen), 0,
			     (uint32_t)(lading_le64_to_cpu(e->uoff) / LADING_BLOCK_SIZE),
			     (uint16_t)d->ndicts);
		if (ret)
			return ret;
	}
	d->ndicts++;
	return 0;
}

size_t lading_dedup_dict_count(const struct lading_dedup *d)
{
	return d->ndicts;
}

const struct lading_blob_record *lading_dedup_dict(const struct lading_dedup *d,
						   size_t i, uint16_t *device_id)
{
	*device_id = d->dicts[i].device_id;
	return &d->dicts[i].rec;
}
