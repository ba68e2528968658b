// SPDX-License-Identifier: MIT
#include <lading/common.h>

void lading_json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
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
