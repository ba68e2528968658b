// SPDX-License-Identifier: MIT
/*
 * Names from an image or a tar are attacker-chosen bytes.  Everything that
 * prints them escapes them here, so a name holding a newline or a terminal
 * control sequence cannot forge a line of output, and bytes that are not
 * UTF-8 stay visible instead of garbling the terminal or the JSON.
 */
#include <stdlib.h>
#include <string.h>
#include <lading/util.h>

size_t lading_utf8_char_len(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned int c = s[0], cp;
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	/* C1 controls (U+0080..U+009F) act on terminals like ESC sequences */
	if (cp >= 0x80 && cp <= 0x9f)
		return 0;
	return n;
}

size_t lading_escape_text(char *out, size_t size, const char *in)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t len = 0, written = 0, n;
	bool full = !size;
	char tmp[8];

	while (*s) {
		const char *piece = tmp;
		size_t plen;

		n = lading_utf8_char_len((const char *)s);
		if (n == 1 && *s >= 0x20 && *s != 0x7f && *s != '\\') {
			tmp[0] = (char)*s;
			plen = 1;
		} else if (n > 1) {
			piece = (const char *)s;
			plen = n;
		} else {
			plen = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", *s);
			if (*s == '\\' || *s == '\n' || *s == '\r' || *s == '\t') {
				tmp[1] = *s == '\\' ? '\\' : *s == '\n' ? 'n' :
					 *s == '\r' ? 'r' : 't';
				plen = 2;
			}
			n = 1;
		}
		/* Only whole pieces: an escape is never cut in two. */
		if (!full && written + plen < size) {
			memcpy(out + written, piece, plen);
			written += plen;
		} else {
			full = true;
		}
		len += plen;
		s += n;
	}
	if (size)
		out[written] = '\0';
	return len;
}

void lading_fputs_escaped(FILE *out, const char *s)
{
	char small[512], *buf = small;
	size_t len = lading_escape_text(small, sizeof(small), s);

	if (len >= sizeof(small)) {
		buf = malloc(len + 1);
		if (!buf) {
			fputs(small, out);	/* the start, rather than nothing */
			return;
		}
		lading_escape_text(buf, len + 1, s);
	}
	fputs(buf, out);
	if (buf != small)
		free(buf);
}
