// SPDX-License-Identifier: MIT
/* Lowercase hex, the text form of digests and ids. */
#include <errno.h>
#include <lading/util.h>

void lading_hex_encode(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int lading_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int lading_hex_decode(uint8_t *out, const char *in, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		int hi = lading_hex_value(in[2 * i]), lo;

		if (hi < 0)
			return -EINVAL;
		lo = lading_hex_value(in[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return in[2 * len] == '\0' ? 0 : -EINVAL;
}
