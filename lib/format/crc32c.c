// SPDX-License-Identifier: MIT
#include <pthread.h>
#include <lading/format.h>

/* Only the superblock is checksummed, so a byte-wise table is plenty. */
static uint32_t crc32c_table[256];

static void crc32c_init_table(void)
{
	uint32_t i, j;

	for (i = 0; i < 256; i++) {
		uint32_t c = i;

		for (j = 0; j < 8; j++)
			c = (c >> 1) ^ ((c & 1) ? 0x82F63B78u : 0);
		crc32c_table[i] = c;
	}
}

uint32_t lading_crc32c(uint32_t crc, const void *data, size_t len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	const uint8_t *p = data;

	pthread_once(&once, crc32c_init_table);
	while (len--)
		crc = crc32c_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}
