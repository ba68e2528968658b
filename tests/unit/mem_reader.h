/* SPDX-License-Identifier: MIT */
/*
 * A buffer as a lading_read_fn stream, at most step bytes a read (short
 * reads are the readers' everyday case).  Shared by unit tests and fuzz
 * targets.
 */
#ifndef LADING_TEST_MEM_READER_H
#define LADING_TEST_MEM_READER_H

#include <stdint.h>
#include <string.h>
#include <sys/types.h>

struct mem_reader {
	const uint8_t *p;
	size_t len, pos, step;
};

static inline ssize_t mem_read(void *ud, void *buf, size_t len)
{
	struct mem_reader *m = ud;
	size_t n = m->len - m->pos;

	if (n > len)
		n = len;
	if (n > m->step)
		n = m->step;
	memcpy(buf, m->p + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

#endif
