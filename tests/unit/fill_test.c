// SPDX-License-Identifier: MIT
/*
 * The filler's kernel message parsers: /dev/cachefiles messages and
 * fanotify events, well-formed and malformed (short, oversized,
 * inconsistent lengths, unknown opcodes): a clear error, never a crash
 * or an out-of-bounds read (run under ASan in CI).  Access traces:
 * parsed, written and read back, merged; malformed ones name the line.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <lading/fill.h>
#include <lading/cachefiles.h>
#include <lading/fill_events.h>
#include <lading/fetch.h>
#include "check.h"
#include "scratch.h"

static size_t put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
	return 4;
}

static size_t put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
	return 8;
}

static size_t msg_header(uint8_t *p, uint32_t id, uint32_t op, uint32_t len,
			 uint32_t object)
{
	size_t n = put32(p, id);

	n += put32(p + n, op);
	n += put32(p + n, len);
	n += put32(p + n, object);
	return n;
}

/* An OPEN as the kernel writes it: header, cachefiles_open, keys. */
static size_t make_open(uint8_t *buf, const char *vol, const char *cookie, int fd)
{
	size_t vl = strlen(vol) + 1, cl = strlen(cookie), n = 16;

	n += put32(buf + n, (uint32_t)vl);
	n += put32(buf + n, (uint32_t)cl);
	n += put32(buf + n, (uint32_t)fd);
	n += put32(buf + n, 0);
	memcpy(buf + n, vol, vl);
	n += vl;
	memcpy(buf + n, cookie, cl);
	n += cl;
	msg_header(buf, 7, LADING_CACHEFILES_OP_OPEN, (uint32_t)n, 3);
	return n;
}

/* each parse reports into a cleared error: the first message set wins */
static struct lading_error *fresh(struct lading_error *err)
{
	lading_error_clear(err);
	return err;
}

static void test_cachefiles_good(void)
{
	struct lading_cachefiles_msg m;
	uint8_t buf[2048];
	struct lading_error why = { 0 };
	size_t n;

	n = make_open(buf, "erofs,dom", "0123abcd", 9);
	CHECK(lading_cachefiles_msg_parse(buf, n, &m, fresh(&why)) == 0);
	CHECK_EQ_U64(m.msg_id, 7);
	CHECK_EQ_U64(m.object_id, 3);
	CHECK_EQ_U64(m.fd, 9);
	CHECK(!strcmp(m.volume_key, "erofs,dom"));
	CHECK_EQ_U64(m.cookie_key_len, 8);
	CHECK(!memcmp(m.cookie_key, "0123abcd", 8));

	n = msg_header(buf, 8, LADING_CACHEFILES_OP_READ, 32, 3);
	n += put64(buf + n, 4096);
	n += put64(buf + n, 131072);
	CHECK(lading_cachefiles_msg_parse(buf, n, &m, fresh(&why)) == 0);
	CHECK_EQ_U64(m.opcode, LADING_CACHEFILES_OP_READ);
	CHECK_EQ_U64(m.off, 4096);
	CHECK_EQ_U64(m.len, 131072);

	n = msg_header(buf, 9, LADING_CACHEFILES_OP_CLOSE, 16, 3);
	CHECK(lading_cachefiles_msg_parse(buf, n, &m, fresh(&why)) == 0);
	CHECK_EQ_U64(m.opcode, LADING_CACHEFILES_OP_CLOSE);
}

static void expect_bad(const uint8_t *buf, size_t n, const char *words)
{
	struct lading_cachefiles_msg m;
	struct lading_error why = { 0 };

	CHECK(lading_cachefiles_msg_parse(buf, n, &m, fresh(&why)) == -EBADMSG);
	if (!strstr(why.msg, words)) {
		check_failures++;
		fprintf(stderr, "expected '%s' in '%s'\n", words, why.msg);
	}
}

static void test_cachefiles_bad(void)
{
	struct lading_cachefiles_msg m;
	uint8_t buf[2048] = { 0 };
	struct lading_error why = { 0 };
	size_t n;

	expect_bad(buf, 0, "shorter");
	expect_bad(buf, 15, "shorter");
	msg_header(buf, 1, LADING_CACHEFILES_OP_CLOSE, 1100, 1);
	expect_bad(buf, 1100, "longer");
	msg_header(buf, 1, LADING_CACHEFILES_OP_CLOSE, 20, 1);
	expect_bad(buf, 16, "disagrees");
	msg_header(buf, 1, 3, 16, 1);
	expect_bad(buf, 16, "unknown opcode");
	msg_header(buf, 1, 0xffffffffu, 16, 1);
	expect_bad(buf, 16, "unknown opcode");
	msg_header(buf, 1, LADING_CACHEFILES_OP_CLOSE, 24, 1);
	expect_bad(buf, 24, "body");
	msg_header(buf, 1, LADING_CACHEFILES_OP_READ, 24, 1);
	expect_bad(buf, 24, "READ");
	n = msg_header(buf, 1, LADING_CACHEFILES_OP_READ, 32, 1);
	put64(buf + n, UINT64_MAX - 10);
	put64(buf + n + 8, 4096);
	expect_bad(buf, 32, "wraps");
	msg_header(buf, 1, LADING_CACHEFILES_OP_OPEN, 20, 1);
	expect_bad(buf, 20, "OPEN message too short");

	/* key sizes that do not add up: fd still reported for closing */
	n = make_open(buf, "erofs,x", "key", 5);
	put32(buf + 16, 200);
	CHECK(lading_cachefiles_msg_parse(buf, n, &m, fresh(&why)) == -EBADMSG);
	CHECK_EQ_U64(m.fd, 5);
	n = make_open(buf, "erofs,x", "key", 5);
	put32(buf + 20, 4);
	expect_bad(buf, n, "key sizes");
	n = make_open(buf, "erofs,x", "key", 5);
	put32(buf + 16, 0);
	expect_bad(buf, n, "key sizes");
	/* the volume key must end at its NUL */
	n = make_open(buf, "erofs,x", "key", 5);
	buf[32 + 7] = 'y';
	expect_bad(buf, n, "not one string");
	n = make_open(buf, "erofs,x", "key", 5);
	buf[32 + 3] = '\0';
	expect_bad(buf, n, "not one string");
	n = make_open(buf, "erofs,x", "key", -1);
	expect_bad(buf, n, "without an fd");
}

/* A pre-content event with a range record (FAN_EVENT_INFO_TYPE_RANGE). */
static size_t make_event(uint8_t *p, int fd, uint64_t off, uint64_t count)
{
	size_t n = 0;

	n += put32(p, 48);
	p[n++] = 3;
	p[n++] = 0;
	p[n++] = 24;
	p[n++] = 0;
	n += put64(p + n, 0x00100000ull);
	n += put32(p + n, (uint32_t)fd);
	n += put32(p + n, 1234);
	p[n++] = 6;
	p[n++] = 0;
	p[n++] = 24;
	p[n++] = 0;
	n += put32(p + n, 0);
	n += put64(p + n, off);
	n += put64(p + n, count);
	return n;
}

static void test_fanotify(void)
{
	struct lading_fanotify_event ev;
	uint8_t buf[256] = { 0 };
	struct lading_error why = { 0 };
	size_t n, used;

	n = make_event(buf, 11, 65536, 131072);
	n += make_event(buf + n, 12, 0, 4096);
	CHECK(lading_fanotify_event_parse(buf, n, &ev, &used, fresh(&why)) == 0);
	CHECK_EQ_U64(used, 48);
	CHECK_EQ_U64(ev.fd, 11);
	CHECK(ev.has_range);
	CHECK_EQ_U64(ev.off, 65536);
	CHECK_EQ_U64(ev.count, 131072);
	CHECK(lading_fanotify_event_parse(buf + used, n - used, &ev, &used,
					  fresh(&why)) == 0);
	CHECK_EQ_U64(ev.fd, 12);
	CHECK_EQ_U64(ev.count, 4096);

	/* no info records: no range */
	n = make_event(buf, 3, 0, 1);
	put32(buf, 24);
	CHECK(lading_fanotify_event_parse(buf, 24, &ev, &used, fresh(&why)) == 0);
	CHECK(!ev.has_range);

	CHECK(lading_fanotify_event_parse(buf, 10, &ev, &used, fresh(&why)) == -EBADMSG);
	n = make_event(buf, 3, 0, 1);
	CHECK(lading_fanotify_event_parse(buf, 40, &ev, &used, fresh(&why)) == -EBADMSG);
	CHECK(strstr(why.msg, "outside the buffer") != NULL);
	buf[4] = 2;
	CHECK(lading_fanotify_event_parse(buf, n, &ev, &used, fresh(&why)) == -EBADMSG);
	CHECK(strstr(why.msg, "version") != NULL);
	n = make_event(buf, 3, 0, 1);
	buf[6] = 60;
	CHECK(lading_fanotify_event_parse(buf, n, &ev, &used, fresh(&why)) == -EBADMSG);
	n = make_event(buf, 3, 0, 1);
	put32(buf, 8);
	CHECK(lading_fanotify_event_parse(buf, n, &ev, &used, fresh(&why)) == -EBADMSG);
	/* an info record of length 0 must not loop forever */
	n = make_event(buf, 3, 0, 1);
	buf[26] = 0;
	CHECK(lading_fanotify_event_parse(buf, n, &ev, &used, fresh(&why)) == -EBADMSG);
	/* a range record cut short */
	n = make_event(buf, 3, 0, 1);
	buf[26] = 8;
	put32(buf, 32);
	CHECK(lading_fanotify_event_parse(buf, 32, &ev, &used, fresh(&why)) == -EBADMSG);
	CHECK(strstr(why.msg, "range record") != NULL);
	/* no message buffer at all (the guardian's way) */
	CHECK(lading_fanotify_event_parse(buf, 3, &ev, &used, NULL) == -EBADMSG);
}

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int parse_str(const char *s, struct lading_trace *t, struct lading_error *err)
{
	return lading_trace_parse(s, strlen(s), "t", t, fresh(err));
}

static void test_trace_parse(void)
{
	struct lading_trace t;
	struct lading_error err = { 0 };

	CHECK(parse_str("lading-trace 1\n"
			"0 " ID_A " 3 /usr/bin/python3\n"
			"# a comment\n"
			"\n"
			"12 " ID_B " 4294967295 /a\\x20b\\\\c\\x0a\n"
			"12 " ID_A " 0 -", &t, &err) == 0);
	CHECK_EQ_U64(t.n, 3);
	CHECK_EQ_U64(t.v[0].ms, 0);
	CHECK(!strcmp(t.v[0].blob, ID_A));
	CHECK_EQ_U64(t.v[0].chunk, 3);
	CHECK(!strcmp(t.v[0].path, "/usr/bin/python3"));
	CHECK_EQ_U64(t.v[1].ms, 12);
	CHECK_EQ_U64(t.v[1].chunk, 4294967295u);
	CHECK(!strcmp(t.v[1].path, "/a b\\c\n"));
	CHECK(t.v[2].path == NULL);
	lading_trace_free(&t);

	CHECK(parse_str("lading-trace 1\n", &t, &err) == 0);
	CHECK_EQ_U64(t.n, 0);
	lading_trace_free(&t);
}

static void trace_bad(const char *s, size_t len, const char *where, const char *what)
{
	struct lading_trace t;
	struct lading_error err = { 0 };

	CHECK(lading_trace_parse(s, len, "t", &t, fresh(&err)) == -EINVAL);
	CHECK(strncmp(err.msg, where, strlen(where)) == 0);
	CHECK(strstr(err.msg, what) != NULL);
	if (strncmp(err.msg, where, strlen(where)) || !strstr(err.msg, what))
		fprintf(stderr, "  got: %s\n", err.msg);
	CHECK(t.n == 0 && t.v == NULL);
}

#define BAD(s, where, what) trace_bad(s, sizeof(s) - 1, where, what)

static void test_trace_bad(void)
{
	static char huge[LADING_TRACE_LINE_MAX + 100];
	size_t n;

	BAD("", "t:1: ", "empty");
	BAD("lading-trace 2\n", "t:1: ", "not a trace");
	BAD("lading-trace 1 \n", "t:1: ", "not a trace");
	BAD("lading-trace 1\nx " ID_A " 0 /a\n", "t:2: ", "expected");
	BAD("lading-trace 1\n-1 " ID_A " 0 /a\n", "t:2: ", "expected");
	BAD("lading-trace 1\n99999999999999999999 " ID_A " 0 /a\n", "t:2: ", "expected");
	BAD("lading-trace 1\n0 " ID_A "a 0 /a\n", "t:2: ", "blob id");
	BAD("lading-trace 1\n0 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 0 /a\n",
	    "t:2: ", "blob id");
	BAD("lading-trace 1\n0 abc 0 /a\n", "t:2: ", "blob id");
	BAD("lading-trace 1\n0 " ID_A " 4294967296 /a\n", "t:2: ", "chunk");
	BAD("lading-trace 1\n0 " ID_A " /a\n", "t:2: ", "chunk");
	BAD("lading-trace 1\n0 " ID_A " 0\n", "t:2: ", "chunk");
	BAD("lading-trace 1\n0 " ID_A " 0 \n", "t:2: ", "'/'");
	BAD("lading-trace 1\n0 " ID_A " 0 a\n", "t:2: ", "'/'");
	BAD("lading-trace 1\n0 " ID_A " 0 /a b\n", "t:2: ", "space");
	BAD("lading-trace 1\n0 " ID_A " 0 /a\tb\n", "t:2: ", "control");
	BAD("lading-trace 1\n0 " ID_A " 0 /a\\\n", "t:2: ", "escape");
	BAD("lading-trace 1\n0 " ID_A " 0 /a\\x4\n", "t:2: ", "escape");
	BAD("lading-trace 1\n0 " ID_A " 0 /a\\q\n", "t:2: ", "escape");
	BAD("lading-trace 1\n0 " ID_A " 0 /a\\x00\n", "t:2: ", "NUL");
	BAD("lading-trace 1\n0 " ID_A " 0 /a\0b\n", "t:2: ", "NUL");
	BAD("lading-trace 1\r\n", "t:1: ", "not a trace");
	BAD("lading-trace 1\n0 " ID_A " 0 /a\n0 " ID_A " 1 /a b\n", "t:3: ", "space");

	/* a line past the bound, and a path past 4095 bytes */
	n = (size_t)snprintf(huge, sizeof(huge), "lading-trace 1\n0 " ID_A " 0 /");
	memset(huge + n, 'x', sizeof(huge) - n - 1);
	trace_bad(huge, sizeof(huge) - 1, "t:2: ", "too long");
	n = (size_t)snprintf(huge, sizeof(huge), "lading-trace 1\n0 " ID_A " 0 /");
	memset(huge + n, 'x', 5000);
	trace_bad(huge, n + 5000, "t:2: ", "path too long");
}

static void test_trace_write_merge(void)
{
	struct lading_trace a = { 0 }, b = { 0 }, in[2], m, back;
	struct lading_error err = { 0 };
	const char odd[] = "/sp ace/back\\slash/\x7f\x01/\xc3\xa9";

	CHECK(scratch_make("fill") == 0);
	CHECK(lading_trace_add(&a, 5, ID_A, 1, "/x") == 0);
	CHECK(lading_trace_add(&a, 9, ID_A, 2, odd) == 0);
	CHECK(lading_trace_add(&a, 9, ID_B, 0, NULL) == 0);
	CHECK(lading_trace_add(&b, 2, ID_A, 2, "/y") == 0);	/* earlier: wins */
	CHECK(lading_trace_add(&b, 7, ID_A, 1, "/z") == 0);	/* later: dropped */
	CHECK(lading_trace_add(&b, 9, ID_B, 7, "/w") == 0);

	CHECK(lading_trace_write(at("a"), &a, fresh(&err)) == 0);
	CHECK(lading_trace_load(at("a"), &back, fresh(&err)) == 0);
	CHECK_EQ_U64(back.n, 3);
	if (back.n == 3) {
		CHECK(!strcmp(back.v[1].path, odd));
		CHECK(back.v[2].path == NULL);
		CHECK_EQ_U64(back.v[1].ms, 9);
	}
	lading_trace_free(&back);

	in[0] = a;
	in[1] = b;
	CHECK(lading_trace_merge(&m, in, 2, fresh(&err)) == 0);
	CHECK_EQ_U64(m.n, 4);
	if (m.n == 4) {
		CHECK(m.v[0].ms == 2 && m.v[0].chunk == 2 && !strcmp(m.v[0].path, "/y"));
		CHECK(m.v[1].ms == 5 && m.v[1].chunk == 1 && !strcmp(m.v[1].path, "/x"));
		/* a tie keeps input order */
		CHECK(m.v[2].ms == 9 && !strcmp(m.v[2].blob, ID_B) && m.v[2].chunk == 0);
		CHECK(m.v[3].ms == 9 && m.v[3].chunk == 7);
	}
	lading_trace_free(&m);

	CHECK(lading_trace_load(at("missing"), &back, fresh(&err)) == -ENOENT);
	CHECK(strstr(err.msg, "missing") != NULL);
	CHECK(lading_trace_load(root, &back, fresh(&err)) == -EINVAL);
	CHECK(strstr(err.msg, "not a regular file") != NULL);
	CHECK(lading_trace_write(at("no/such/dir/t"), &a, fresh(&err)) < 0);
	lading_trace_free(&a);
	lading_trace_free(&b);
	CHECK(scratch_remove() == 0);
}

int main(void)
{
	test_cachefiles_good();
	test_cachefiles_bad();
	test_fanotify();
	test_trace_parse();
	test_trace_bad();
	test_trace_write_merge();
	return check_summary("fill_test");
}
