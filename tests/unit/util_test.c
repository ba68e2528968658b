// SPDX-License-Identifier: MIT
/*
 * Unit tests for lib/util: escaping of names in messages and JSON, error
 * messages that keep their reason when a long path does not fit, and
 * outfile.c: output directories (a new one
 * appears only at commit, an aborted one leaves nothing; an existing one
 * gains only merged files, which abort removes again), the sweep of dead
 * writers' temporaries (a live writer's flock keeps its file) and tree
 * removal without recursion; digest.c: sha256 one-shot, incremental and
 * of a file agree, a digest prints and parses back in both spellings.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <lading/util.h>
#include "check.h"
#include "scratch.h"

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

/* What jansson prints for s made by lading_json_str() (NULL if none). */
static char *json_of(const char *s)
{
	json_t *v = lading_json_str(s);
	char *text = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;

	json_decref(v);
	return text;
}

static bool json_is(const char *s, const char *want)
{
	char *text = json_of(s);
	bool same = text && !strcmp(text, want);

	if (!same)
		fprintf(stderr, "json of '%s': %s, not %s\n", s, text ? text : "NULL", want);
	free(text);
	return same;
}

/* Reports through jansson: one escaping rule for names that are not UTF-8. */
static void test_json_values(void)
{
	char *t, *text = NULL;
	size_t len = 0;
	FILE *f;
	json_t *o;
	int v = -1;
	static const struct lading_enum_name names[] = {
		{ 3, "three" }, { 5, "five" }, { 0, NULL },
	};

	/* jansson refuses these bytes; the rule makes them visible text */
	CHECK(json_string("a\xff") == NULL);
	CHECK(json_is("plain/name", "\"plain/name\""));
	CHECK(json_is("bad\xff", "\"bad\\\\xff\""));
	CHECK(json_is("caf\xc3\xa9", "\"caf\xc3\xa9\""));
	CHECK(json_is("\xc0\xaf", "\"\\\\xc0\\\\xaf\""));	/* overlong */
	CHECK(json_is("\xc2\x9b", "\"\\\\xc2\\\\x9b\""));	/* a C1 control */
	CHECK(json_is("a\nb", "\"a\\nb\""));	/* JSON's own escape */
	t = lading_json_text("x\xfey\x01");
	CHECK(t && !strcmp(t, "x\\xfey\x01"));
	free(t);
	/* the streamed form applies the same rule */
	f = open_memstream(&text, &len);
	CHECK(f != NULL);
	if (f) {
		lading_json_string(f, "bad\xff");
		fclose(f);
		CHECK(text && !strcmp(text, "\"bad\\\\xff\""));
		free(text);
	}
	o = lading_json_str(NULL);
	CHECK(json_is_null(o));
	json_decref(o);
	o = lading_json_str_or_null("");
	CHECK(json_is_null(o));
	json_decref(o);
	o = lading_json_u64(UINT64_MAX);
	CHECK(json_integer_value(o) == INT64_MAX);
	json_decref(o);
	o = lading_json_u64(12345);
	CHECK(json_integer_value(o) == 12345);
	json_decref(o);

	/* one line, or indented; the document is released either way */
	text = NULL;
	f = open_memstream(&text, &len);
	CHECK(f != NULL);
	if (f) {
		CHECK(!lading_json_print(f, json_pack("{s:i, s:s}", "a", 1, "b", "c"), true));
		CHECK(lading_json_print(f, NULL, true) == -ENOMEM);
		fclose(f);
		CHECK(text && !strcmp(text, "{\"a\": 1, \"b\": \"c\"}\n"));
		free(text);
	}

	CHECK(!strcmp(lading_enum_name(names, 5), "five"));
	CHECK(!strcmp(lading_enum_name(names, 4), "?"));
	CHECK(!lading_enum_parse(names, "three", &v) && v == 3);
	CHECK(lading_enum_parse(names, "four", &v) == -EINVAL && v == 3);
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



static bool exists(const char *name)
{
	struct stat st;

	return lstat(at(name), &st) == 0;
}

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0 && lading_write_full(fd, text, strlen(text)) == 0);
	close(fd);
}

/* entries of dir (not . and ..) */
static int count(const char *dir)
{
	char cmd[4200];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
	p = popen(cmd, "r");
	if (p && fscanf(p, "%d", &n) != 1)
		n = -1;
	if (p)
		pclose(p);
	return n;
}

static void test_new_dir(void)
{
	struct lading_outdir od;
	char *f;

	/* aborted: nothing, not even the parents it made */
	CHECK(lading_outdir_open(&od, at("p/q/new")) == 0);
	CHECK(!exists("p/q/new") && exists("p/q"));
	f = lading_path_join(od.stage, "blob");
	put(f, "x");
	free(f);
	lading_outdir_abort(&od);
	CHECK(!exists("p"));
	/* committed: renamed into place whole */
	CHECK(lading_outdir_open(&od, at("p/q/new")) == 0);
	f = lading_path_join(od.stage, "blob");
	put(f, "x");
	free(f);
	CHECK(lading_outdir_merge(&od, "") == 0);
	CHECK(lading_outdir_commit(&od) == 0);
	lading_outdir_close(&od);
	CHECK(exists("p/q/new/blob"));
	CHECK_EQ_U64(count(at("p/q")), 1);
}

static void test_existing_dir(void)
{
	struct lading_outdir od;
	char *f;

	CHECK(mkdir(at("old"), 0755) == 0);
	put(at("old/keep"), "old");
	CHECK(lading_outdir_open(&od, at("old")) == 0);
	f = lading_path_join(od.stage, "keep");	/* already there: stays old */
	put(f, "new");
	free(f);
	CHECK(mkdir(at("old/.lading-tmp-x"), 0755) == 0);
	f = lading_path_join(od.stage, "sub");
	CHECK(mkdir(f, 0755) == 0);
	free(f);
	f = lading_path_join(od.stage, "sub/added");
	put(f, "a");
	free(f);
	CHECK(lading_outdir_merge(&od, "sub") == 0);
	CHECK(exists("old/sub/added"));
	/* a failure after the merge: the destination as it was */
	lading_outdir_abort(&od);
	CHECK(!exists("old/sub"));
	CHECK_EQ_U64(count(at("old")), 2);	/* keep, and the planted .lading-tmp-x */
	CHECK(lading_outdir_open(&od, at("old")) == 0);
	/* the planted, unlocked temporary was swept by that open */
	CHECK(!exists("old/.lading-tmp-x"));
	lading_outdir_abort(&od);
	CHECK_EQ_U64(count(at("old")), 1);
}

static void test_sweep(void)
{
	struct lading_outfile of;
	int live;

	CHECK(mkdir(at("sw"), 0755) == 0);
	put(at("sw/.lading-tmp-dead"), "x");
	put(at("sw/other"), "x");
	live = open(at("sw/.lading-tmp-live"), O_RDWR | O_CREAT, 0644);
	CHECK(live >= 0 && flock(live, LOCK_EX) == 0);
	CHECK(lading_outfile_open(&of, at("sw")) == 0);
	CHECK_EQ_U64(lading_outfile_sweep(at("sw")), 1);
	CHECK(!exists("sw/.lading-tmp-dead"));
	CHECK(exists("sw/.lading-tmp-live") && exists("sw/other"));
	CHECK(access(of.tmp_path, F_OK) == 0);	/* our own open one stays */
	CHECK(lading_outfile_commit(&of, "done") == 0);
	lading_outfile_abort(&of);
	close(live);
	CHECK_EQ_U64(lading_outfile_sweep(at("sw")), 1);
	CHECK_EQ_U64(count(at("sw")), 2);
}

static void test_deep_tree(void)
{
	char path[4096];
	size_t l;
	int i;

	/* deeper than any recursion would like, as deep as PATH_MAX lets */
	snprintf(path, sizeof(path), "%s", at("deep"));
	CHECK(mkdir(path, 0755) == 0);
	for (i = 0; i < 1900 && (l = strlen(path)) + 3 < sizeof(path); i++) {
		memcpy(path + l, "/d", 3);
		if (mkdir(path, 0755) < 0)
			break;
	}
	put(strcat(path, "/f"), "x");
	CHECK(lading_remove_tree(at("deep")) == 0);
	CHECK(!exists("deep"));
}

/* sha256("abc"), FIPS 180-2 */
#define ABC_HEX "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void test_digest(void)
{
	struct lading_digest d, e, f;
	struct lading_sha256_ctx c;
	char hex[LADING_DIGEST_HEX_LEN + 1], str[LADING_DIGEST_STR_LEN + 1];
	char path[] = "/tmp/lading-digest-test.XXXXXX";
	uint64_t bytes = 0;
	int fd;

	CHECK(!lading_sha256("abc", 3, &d));
	lading_digest_hex(&d, hex);
	CHECK(!strcmp(hex, ABC_HEX));
	lading_digest_format(&d, str);
	CHECK(!strcmp(str, "sha256:" ABC_HEX));
	/* both spellings parse back to the same bytes */
	CHECK(!lading_digest_parse(str, &e) && !memcmp(&d, &e, sizeof(d)));
	CHECK(!lading_digest_parse(hex, &e) && !memcmp(&d, &e, sizeof(d)));
	CHECK(!lading_digest_parse(hex, NULL));
	/* one spelling only: lowercase, 64 digits, nothing after */
	CHECK(lading_digest_parse("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A3"
				  "96177A9CB410FF61F20015AD", &e) == -EINVAL);
	CHECK(lading_digest_parse("sha256:" ABC_HEX "0", &e) == -EINVAL);
	CHECK(lading_digest_parse("ba7816bf", &e) == -EINVAL);
	CHECK(lading_digest_parse("sha512:" ABC_HEX, &e) == -EINVAL);
	CHECK(lading_digest_parse("", &e) == -EINVAL);
	/* incremental, twice on one context (final starts anew) */
	CHECK(!lading_sha256_init(&c));
	CHECK(!lading_sha256_update(&c, "a", 1) && !lading_sha256_update(&c, "bc", 2));
	CHECK(!lading_sha256_final(&c, &e) && !memcmp(&d, &e, sizeof(d)));
	CHECK(!lading_sha256_update(&c, "abc", 3));
	CHECK(!lading_sha256_final(&c, &e) && !memcmp(&d, &e, sizeof(d)));
	lading_sha256_free(&c);
	/* a file */
	fd = mkstemp(path);
	CHECK(fd >= 0 && !lading_write_full(fd, "abc", 3));
	CHECK(!lading_sha256_fd(fd, &f, &bytes));
	CHECK(!memcmp(&d, &f, sizeof(d)) && bytes == 3);
	close(fd);
	unlink(path);
}

/* the message a failure prints: the library's, else strerror */
static void test_error_message(void)
{
	struct lading_error err = { 0 };

	CHECK(!strcmp(lading_error_message(&err, -ENOENT), strerror(ENOENT)));
	CHECK(!strcmp(lading_error_message(NULL, -EIO), strerror(EIO)));
	lading_error_set(&err, EINVAL, "%s: bad", "x");
	CHECK(!strcmp(lading_error_message(&err, -ENOENT), "x: bad"));
}

int main(void)
{
	test_digest();
	test_error_message();
	test_escape();
	test_json();
	test_json_values();
	test_long_message();
	if (scratch_make("util"))
		return 1;
	test_new_dir();
	test_existing_dir();
	test_sweep();
	test_deep_tree();
	scratch_remove();
	return check_summary("util");
}
