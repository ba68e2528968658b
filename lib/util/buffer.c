// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <lading/util.h>

int lading_grow_buffer(uint8_t **buf, size_t *size, size_t want)
{
	uint8_t *n;

	if (*size >= want)
		return 0;
	n = realloc(*buf, want);
	if (!n)
		return -ENOMEM;
	*buf = n;
	*size = want;
	return 0;
}
