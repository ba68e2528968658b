// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <lading/util.h>

/*
 * Open addressing, linear probing, power-of-two capacity kept at most
 * half full; keys are stored +1 so that 0 marks an empty slot.
 */
static size_t idmap_slot(const struct lading_idmap *m, uint64_t key)
{
	size_t j = (size_t)((key + 1) * 0x9E3779B97F4A7C15ull) & (m->cap - 1);

	while (m->keys[j] && m->keys[j] != key + 1)
		j = (j + 1) & (m->cap - 1);
	return j;
}

static int idmap_grow(struct lading_idmap *m)
{
	struct lading_idmap n = { .cap = m->cap ? m->cap * 2 : 256 };
	size_t i;

	n.keys = calloc(n.cap, sizeof(*n.keys));
	n.values = calloc(n.cap, sizeof(*n.values));
	if (!n.keys || !n.values) {
		free(n.keys);
		free(n.values);
		return -ENOMEM;
	}
	for (i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->keys[i])
			continue;
		j = idmap_slot(&n, m->keys[i] - 1);
		n.keys[j] = m->keys[i];
		n.values[j] = m->values[i];
	}
	n.used = m->used;
	lading_idmap_free(m);
	*m = n;
	return 0;
}

uint64_t *lading_idmap_find(const struct lading_idmap *m, uint64_t key)
{
	size_t j;

	if (!m->cap)
		return NULL;
	j = idmap_slot(m, key);
	return m->keys[j] ? &m->values[j] : NULL;
}

uint64_t *lading_idmap_insert(struct lading_idmap *m, uint64_t key,
			      bool *created)
{
	size_t j;

	if ((m->used + 1) * 2 > m->cap && idmap_grow(m))
		return NULL;
	j = idmap_slot(m, key);
	*created = !m->keys[j];
	if (*created) {
		m->keys[j] = key + 1;
		m->values[j] = 0;
		m->used++;
	}
	return &m->values[j];
}

void lading_idmap_free(struct lading_idmap *m)
{
	free(m->keys);
	free(m->values);
	m->keys = NULL;
	m->values = NULL;
	m->cap = m->used = 0;
}
