/* SPDX-License-Identifier: MIT */
/*
 * The public plumbing every liblading call shares: the export marker,
 * logging, error messages, the digest type, and the helpers the tools
 * use to parse options and print reports (names escaped).
 */
#ifndef LADING_COMMON_H
#define LADING_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define LADING_BLOCK_SIZE 4096u
#define LADING_BLOCK_BITS 12u
#define LADING_SHA256_LEN 32u
#define LADING_DIGEST_HEX_LEN 64u

#define LADING_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define LADING_ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))

/* Marks the functions liblading.so exports; everything else is hidden. */
#define LADING_API __attribute__((visibility("default")))

/* ---- logging ---------------------------------------------------------- */

enum lading_log_level {
	LADING_LOG_ERROR = 0,
	LADING_LOG_WARN = 1,
	LADING_LOG_INFO = 2,
	LADING_LOG_DEBUG = 3,
};

/*
 * A logger is a plain value owned by the tool; library code that wants to
 * talk receives a pointer to it.  NULL means "say nothing".
 */
struct lading_log {
	const char *prog;	/* prefix, e.g. "lading-mkimage" */
	int level;		/* messages above this level are dropped */
	FILE *out;		/* NULL: stderr */
};

LADING_API void lading_log_msg(const struct lading_log *log, enum lading_log_level lvl,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- errors ----------------------------------------------------------- */

/*
 * The one error convention of the library: a function that can fail
 * returns 0 (or a count) or a negative errno (no 1/0/-errno, no bool
 * with a reason beside it), and one that takes a lading_error fills it
 * with a message naming the file or entry at fault (no why/whylen
 * buffers).  The first message set wins: the innermost cause names the
 * culprit.
 */
struct lading_error {
	int code;		/* negative errno, 0 = none */
	char msg[1024];
};

/* Records "fmt" (if no message yet) and returns -errnum. */
LADING_API int lading_error_set(struct lading_error *err, int errnum, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));
LADING_API void lading_error_clear(struct lading_error *err);
/*
 * The message to print for ret (a negative errno): err's, or strerror()
 * when no message was set.  Callers need no fallback of their own.
 */
LADING_API const char *lading_error_message(const struct lading_error *err, int ret);

/* ---- digests ---------------------------------------------------------- */

/* A sha256 digest: its bytes are the value, text only at the edges. */
struct lading_digest {
	uint8_t bytes[LADING_SHA256_LEN];
};

#define LADING_DIGEST_PREFIX "sha256:"
#define LADING_DIGEST_STR_LEN (7 + LADING_DIGEST_HEX_LEN)	/* "sha256:<hex>" */

/* Bare lowercase hex: out holds LADING_DIGEST_HEX_LEN + 1 bytes. */
LADING_API void lading_digest_hex(const struct lading_digest *d, char *out);
/* "sha256:<hex>": out holds LADING_DIGEST_STR_LEN + 1 bytes. */
LADING_API void lading_digest_format(const struct lading_digest *d, char *out);
/*
 * Parses "sha256:<hex>" or bare <hex> (64 lowercase digits, nothing
 * after); 0 or -EINVAL.  d may be NULL to only check.
 */
LADING_API int lading_digest_parse(const char *s, struct lading_digest *d);

/* ---- small helpers ---------------------------------------------------- */
/* out must hold 2*len+1 bytes; lowercase, NUL-terminated. */
LADING_API void lading_hex_encode(char *out, const uint8_t *in, size_t len);
/* Parses exactly 2*len hex digits; returns 0 or -EINVAL. */
LADING_API int lading_hex_decode(uint8_t *out, const char *in, size_t len);
/* Parses "123", "64K", "1M", "2G"; returns 0 or -EINVAL. */
LADING_API int lading_parse_size(const char *s, uint64_t *out);
/* Parses a decimal integer in [min, max]; returns 0 or -EINVAL. */
LADING_API int lading_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);
/*
 * Writes len bytes as the file path (mode 0644) atomically: a temporary
 * file in its directory, fsync'ed, then renamed.  0 or -errno, err
 * naming the path.
 */
LADING_API int lading_write_file_atomic(const char *path, const void *buf, size_t len,
			     struct lading_error *err);


/*
 * Names are attacker-chosen bytes: whatever prints them escapes them, so
 * that no name can forge a line.  lading_escape_text() writes s into out
 * (at most size bytes, NUL included, whole escapes only) with \\, \n, \r,
 * \t and \xHH for other control bytes, C1 controls and bytes that are not
 * UTF-8; it returns the escaped length.  lading_fputs_escaped() prints it.
 */
LADING_API size_t lading_escape_text(char *out, size_t size, const char *s);
LADING_API void lading_fputs_escaped(FILE *out, const char *s);


/*
 * Reports (--json) are built with jansson.  A JSON string is UTF-8 and a
 * name is any bytes: lading_json_text() returns s (malloc'ed) with each
 * byte that is not part of a printable UTF-8 character (invalid UTF-8, C1
 * controls) written as the four characters \xHH; other characters stay as
 * they are.  Every string of a report goes through it.
 */
struct json_t;
LADING_API char *lading_json_text(const char *s);
/* A JSON string of lading_json_text(s); null when s is NULL. */
LADING_API struct json_t *lading_json_str(const char *s);
/* The same, null also when s is empty (an absent value). */
LADING_API struct json_t *lading_json_str_or_null(const char *s);
/* A JSON integer (counts beyond INT64_MAX stay at INT64_MAX). */
LADING_API struct json_t *lading_json_u64(uint64_t v);
/*
 * Prints doc (indented, or on one line) and a newline, then releases it;
 * -ENOMEM when doc is NULL (a value could not be made), -EIO on a write
 * error.
 */
LADING_API int lading_json_print(FILE *out, struct json_t *doc, bool one_line);

#endif
