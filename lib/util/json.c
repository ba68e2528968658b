// SPDX-License-Identifier: MIT
/*
 * Reports are JSON through jansson.  JSON text is UTF-8 and json_string()
 * refuses anything else, while names are arbitrary bytes: every string a
 * report holds goes through lading_json_text(), whose one rule is that a
 * byte that is not part of a printable UTF-8 character (invalid UTF-8, or
 * a C1 control) becomes the four characters \xHH, as in the tools'
 * messages.  Everything else, control characters included, is kept (JSON
 * escapes those itself).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <lading/util.h>

char *lading_json_text(const char *s)
{
	size_t len = 0, n;
	const char *p;
	char *out, *o;

	for (p = s; *p; p += n ? n : 1) {
		n = lading_utf8_char_len(p);
		len += n ? n : (unsigned char)*p < 0x80 ? 1 : 4;
	}
	out = malloc(len + 1);
	if (!out)
		return NULL;
	for (p = s, o = out; *p; p += n ? n : 1) {
		n = lading_utf8_char_len(p);
		if (n) {
			memcpy(o, p, n);
			o += n;
		} else if ((unsigned char)*p < 0x80) {
			*o++ = *p;	/* a control character: JSON escapes it */
		} else {
			snprintf(o, 5, "\\x%02x", (unsigned char)*p);
			o += 4;
		}
	}
	*o = '\0';
	return out;
}

json_t *lading_json_str(const char *s)
{
	char *text;
	json_t *v;

	if (!s)
		return json_null();
	text = lading_json_text(s);
	v = text ? json_string(text) : NULL;
	free(text);
	return v;
}

json_t *lading_json_str_or_null(const char *s)
{
	return s && *s ? lading_json_str(s) : json_null();
}

json_t *lading_json_u64(uint64_t v)
{
	/* json_int_t is signed: a count beyond it cannot happen, but stays big */
	return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX :
			    (json_int_t)v);
}

int lading_json_print(FILE *out, json_t *doc, bool one_line)
{
	size_t flags = JSON_REAL_PRECISION(15) | (one_line ? 0 : JSON_INDENT(2));
	int ret = 0;

	if (!doc)
		return -ENOMEM;
	if (json_dumpf(doc, out, flags) < 0 || fputc('\n', out) == EOF ||
	    fflush(out) == EOF)
		ret = -EIO;
	json_decref(doc);
	return ret;
}

/* A string literal for streamed output, under the same rule. */
void lading_json_string(FILE *out, const char *s)
{
	char *text = lading_json_text(s);
	const char *p;

	fputc('"', out);
	for (p = text ? text : ""; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
	free(text);
}

void lading_json_optional(FILE *out, const char *s)
{
	if (s && *s)
		lading_json_string(out, s);
	else
		fputs("null", out);
}
