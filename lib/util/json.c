// SPDX-License-Identifier: MIT
#include <lading/common.h>

/*
 * JSON text is UTF-8: control characters become \u00XX, and a byte that is
 * not part of valid UTF-8 is written as the visible text \xHH (as in the
 * tools' messages), since JSON cannot carry it.
 */
void lading_json_string(FILE *out, const char *s)
{
	fputc('"', out);
	while (*s) {
		unsigned char c = (unsigned char)*s;
		size_t n = lading_utf8_char_len(s);

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\u%04x", c);
		else if (n)
			fwrite(s, 1, n, out);
		else
			fprintf(out, "\\\\x%02x", c);
		s += n ? n : 1;
	}
	fputc('"', out);
}

void lading_json_optional(FILE *out, const char *s)
{
	if (s && *s)
		lading_json_string(out, s);
	else
		fputs("null", out);
}
