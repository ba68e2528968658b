// SPDX-License-Identifier: MIT
/*
 * lib/util: escaping of names in messages and JSON, and error messages
 * that keep their reason when a long path does not fit.
 */
#include <errno.h>
#include <string.h>
#include <lading/common.h>
#include "check.h"

static const char *escaped(const char *in)
{
	static char buf[256];

	lading_escape_text(buf, sizeof(buf), in);
	return buf;
}

static void test_escape(void)
{
	char small[6];

	CHECK(!strcmp(escaped("plain/name.txt"), "plain/name.txt"));
	CHECK(!strcmp(escaped("a\nlading-verify: done, all good"),
		      "a\\nlading-verify: done, all good"));
	CHECK(!strcmp(escaped("tab\there\r"), "tab\\there\\r"));
	CHECK(!strcmp(escaped("esc\x1b[2Jx\x7f"), "esc\\x1b[2Jx\\x7f"));
	CHECK(!strcmp(escaped("back\\slash"), "back\\\\slash"));
	/* valid UTF-8 stays as it is */
	CHECK(!strcmp(escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6"),
		      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6"));
	/* not UTF-8: stray continuation, overlong, surrogate, truncated, C1 */
	CHECK(!strcmp(escaped("\x80"), "\\x80"));
	CHECK(!strcmp(escaped("\xc0\xaf"), "\\xc0\\xaf"));
	CHECK(!strcmp(escaped("\xed\xa0\x80"), "\\xed\\xa0\\x80"));
	CHECK(!strcmp(escaped("\xe2\x82"), "\\xe2\\x82"));
	CHECK(!strcmp(escaped("\xc2\x9b"), "\\xc2\\x9b"));
	/* whole escapes only, and the full length is returned */
	CHECK_EQ_U64(lading_escape_text(small, sizeof(small), "ab\ncd"), 6);
	CHECK(!strcmp(small, "ab\\nc"));
	CHECK_EQ_U64(lading_escape_text(small, sizeof(small), "abc\x01"), 7);
	CHECK(!strcmp(small, "abc"));
	CHECK_EQ_U64(lading_escape_text(NULL, 0, "\x01"), 4);
}

static void test_json(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	CHECK(f != NULL);
	if (!f)
		return;
	lading_json_string(f, "q\"\\\n\x7f\xff\xc3\xa9");
	fclose(f);
	CHECK(!strcmp(text, "\"q\\\"\\\\\\n\\u007f\\\\xff\xc3\xa9\"") ||
	      !strcmp(text, "\"q\\\"\\\\\\u000a\\u007f\\\\xff\xc3\xa9\""));
	free(text);
}

static void test_long_message(void)
{
	struct lading_error err = { 0 };
	char path[4000];
	size_t len;

	memset(path, 'd', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	path[0] = '/';
	CHECK_EQ_U64(lading_error_set(&err, EINVAL, "%s: chunk 7 of blob x is corrupt",
				      path), -EINVAL);
	len = strlen(err.msg);
	CHECK(len < sizeof(err.msg));
	CHECK(len > sizeof(err.msg) - 8);
	CHECK(!strncmp(err.msg, "/ddd", 4));	/* the start of the path */
	CHECK(strstr(err.msg, "...") != NULL);	/* the middle left out */
	CHECK(len > 30 && !strcmp(err.msg + len - 30, ": chunk 7 of blob x is corrupt"));

	/* the first message wins */
	CHECK_EQ_U64(lading_error_set(&err, EIO, "second"), -EIO);
	CHECK_EQ_U64(err.code, -EINVAL);

	/* never cut inside a UTF-8 character */
	lading_error_clear(&err);
	{
		char wide[3000] = "";
		size_t i;

		for (i = 0; i + 2 < sizeof(wide); i += 2)
			memcpy(wide + i, "\xc3\xa9", 2);
		wide[i] = '\0';
		lading_error_set(&err, EIO, "%s: the reason", wide);
		for (i = 0; err.msg[i]; i += lading_utf8_char_len(err.msg + i) ?: 1)
			CHECK(lading_utf8_char_len(err.msg + i) != 0);
		CHECK(strstr(err.msg, ": the reason") != NULL);
	}
}

int main(void)
{
	test_escape();
	test_json();
	test_long_message();
	return check_summary("util");
}
