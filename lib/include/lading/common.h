/* SPDX-License-Identifier: MIT */
/*
 * Shared plumbing for every liblading module: logging, error messages,
 * atomic output files, hex helpers and the terminal progress line.
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

void lading_log_msg(const struct lading_log *log, enum lading_log_level lvl,
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
int lading_error_set(struct lading_error *err, int errnum, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));
void lading_error_clear(struct lading_error *err);
/*
 * The message to print for ret (a negative errno): err's, or strerror()
 * when no message was set.  Callers need no fallback of their own.
 */
const char *lading_error_message(const struct lading_error *err, int ret);

/* ---- atomic output files ---------------------------------------------- */

/*
 * An output file is written under a temporary name (.lading-tmp-*) in its
 * final directory and only renamed into place by lading_outfile_commit()
 * after fsync.  lading_outfile_abort() (also safe after commit) removes
 * the temporary.  The writer holds an flock on its temporary for as long
 * as it lives, so lading_outfile_sweep() can tell the leftovers of a
 * killed writer (unlocked) from files being written (locked).
 */
struct lading_outfile {
	int fd;
	char *tmp_path;
	char *dir;
	bool committed;
};

int lading_outfile_open(struct lading_outfile *of, const char *dir);
/*
 * Syncs and closes the file, renames it to dir/name and syncs the
 * directory: the last step of a build.  A failure leaves no name that was
 * not there before.
 */
int lading_outfile_commit(struct lading_outfile *of, const char *name);
void lading_outfile_abort(struct lading_outfile *of);
/*
 * Removes the .lading-tmp-* files and directories in dir whose writer is
 * dead (no flock held on them); returns how many, or -errno.
 */
int lading_outfile_sweep(const char *dir);

/*
 * An output directory built aside and put in place at the end, so that a
 * failure leaves the destination exactly as it was.  A destination that
 * does not exist is built as a sibling (.lading-tmp-*, locked like an
 * outfile) and renamed to its name by commit; an existing one gets a
 * staging directory inside it, whose files lading_outdir_merge() moves
 * in (files the destination has already stay as they are).
 * lading_outdir_abort() removes the staging directory and everything
 * merged or committed into the destination (directories it created
 * included); lading_outdir_close() just forgets after a success.
 */
struct lading_outdir {
	char *final;		/* the destination */
	char *stage;		/* where the output is written */
	int lock_fd;		/* holds the flock on stage */
	bool existed;		/* final existed when opened */
	bool committed;
	char **added;		/* files and directories put into final */
	size_t nadded;
};

int lading_outdir_open(struct lading_outdir *od, const char *final);
/* Moves the regular files of stage/sub into final/sub (an existing final). */
int lading_outdir_merge(struct lading_outdir *od, const char *sub);
/* Renames stage to final (a new final), or removes the emptied stage. */
int lading_outdir_commit(struct lading_outdir *od);
void lading_outdir_abort(struct lading_outdir *od);
void lading_outdir_close(struct lading_outdir *od);
/* Removes a directory tree (no recursion); 0 or -errno. */
int lading_remove_tree(const char *path);

/*
 * A byte source that is not a file (a blob stream, a blob inside an
 * archive): returns bytes read into buf, 0 at the end, or a negative errno.
 */
typedef ssize_t (*lading_read_fn)(void *ud, void *buf, size_t len);

/* Full pwrite/write/pread loops; return 0 or -errno (-EIO on short read). */
int lading_write_full(int fd, const void *buf, size_t len);
int lading_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
int lading_pread_full(int fd, void *buf, size_t len, uint64_t off);
/*
 * True when [off, off + len) of fd is data, no hole (SEEK_DATA/SEEK_HOLE).
 * Plain system calls only: safe in a child forked from threads.
 */
bool lading_range_is_data(int fd, uint64_t off, uint64_t len);

/* ---- digests ---------------------------------------------------------- */

/* A sha256 digest: its bytes are the value, text only at the edges. */
struct lading_digest {
	uint8_t bytes[LADING_SHA256_LEN];
};

#define LADING_DIGEST_PREFIX "sha256:"
#define LADING_DIGEST_STR_LEN (7 + LADING_DIGEST_HEX_LEN)	/* "sha256:<hex>" */

/* sha256 of len bytes; 0 or -EIO. */
int lading_sha256(const void *buf, size_t len, struct lading_digest *out);

/* Incremental sha256; each returns 0 or -errno, final starts anew. */
struct lading_sha256_ctx {
	void *md;	/* EVP_MD_CTX */
};

int lading_sha256_init(struct lading_sha256_ctx *c);
int lading_sha256_update(struct lading_sha256_ctx *c, const void *buf,
			 size_t len);
int lading_sha256_final(struct lading_sha256_ctx *c, struct lading_digest *out);
void lading_sha256_free(struct lading_sha256_ctx *c);

/* sha256 of a whole file from offset 0; adds the bytes read to *bytes. */
int lading_sha256_fd(int fd, struct lading_digest *out, uint64_t *bytes);

/* Bare lowercase hex: out holds LADING_DIGEST_HEX_LEN + 1 bytes. */
void lading_digest_hex(const struct lading_digest *d, char *out);
/* "sha256:<hex>": out holds LADING_DIGEST_STR_LEN + 1 bytes. */
void lading_digest_format(const struct lading_digest *d, char *out);
/*
 * Parses "sha256:<hex>" or bare <hex> (64 lowercase digits, nothing
 * after); 0 or -EINVAL.  d may be NULL to only check.
 */
int lading_digest_parse(const char *s, struct lading_digest *d);

/* ---- small helpers ---------------------------------------------------- */

/* out must hold 2*len+1 bytes; lowercase, NUL-terminated. */
void lading_hex_encode(char *out, const uint8_t *in, size_t len);
/* Parses exactly 2*len hex digits; returns 0 or -EINVAL. */
int lading_hex_decode(uint8_t *out, const char *in, size_t len);
/* Parses "123", "64K", "1M", "2G"; returns 0 or -EINVAL. */
int lading_parse_size(const char *s, uint64_t *out);
/* Parses a decimal integer in [min, max]; returns 0 or -EINVAL. */
int lading_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);
/* Grows *buf to at least want bytes (contents kept); 0 or -ENOMEM. */
int lading_grow_buffer(uint8_t **buf, size_t *size, size_t want);
/* mkdir -p with mode 0755; 0 or -errno. */
int lading_mkdir_p(const char *path);
/* The same, calling made() for each directory it created (0 to go on). */
int lading_mkdir_p_noting(const char *path,
			  int (*made)(void *ud, const char *dir), void *ud);
/*
 * A deep walk closes the fds of directories far above it: this reopens
 * the parent of the directory at child_fd by ".." and checks that it is
 * still the directory (dev, ino) it left.  The fd, -errno, or -ESTALE
 * when it moved meanwhile.
 */
int lading_reopen_parent(int child_fd, dev_t dev, ino_t ino);
/* Joins dir and name with one '/'; malloc'ed, NULL on ENOMEM. */
char *lading_path_join(const char *dir, const char *name);
/* The directory part of path ("." if none); malloc'ed. */
char *lading_path_dirname(const char *path);

/*
 * Names are attacker-chosen bytes: whatever prints them escapes them, so
 * that no name can forge a line.  lading_escape_text() writes s into out
 * (at most size bytes, NUL included, whole escapes only) with \\, \n, \r,
 * \t and \xHH for other control bytes, C1 controls and bytes that are not
 * UTF-8; it returns the escaped length.  lading_fputs_escaped() prints it.
 */
size_t lading_escape_text(char *out, size_t size, const char *s);
void lading_fputs_escaped(FILE *out, const char *s);
/* Bytes of the printable UTF-8 character at s (1..4), 0 if not one. */
size_t lading_utf8_char_len(const char *s);

/*
 * Reports (--json) are built with jansson.  A JSON string is UTF-8 and a
 * name is any bytes: lading_json_text() returns s (malloc'ed) with each
 * byte that is not part of a printable UTF-8 character (invalid UTF-8, C1
 * controls) written as the four characters \xHH; other characters stay as
 * they are.  Every string of a report goes through it.
 */
struct json_t;
char *lading_json_text(const char *s);
/* A JSON string of lading_json_text(s); null when s is NULL. */
struct json_t *lading_json_str(const char *s);
/* The same, null also when s is empty (an absent value). */
struct json_t *lading_json_str_or_null(const char *s);
/* A JSON integer (counts beyond INT64_MAX stay at INT64_MAX). */
struct json_t *lading_json_u64(uint64_t v);
/*
 * Prints doc (indented, or on one line) and a newline, then releases it;
 * -ENOMEM when doc is NULL (a value could not be made), -EIO on a write
 * error.
 */
int lading_json_print(FILE *out, struct json_t *doc, bool one_line);
/* Writes s as a JSON string literal under the same rule (streamed output). */
void lading_json_string(FILE *out, const char *s);
/* The same, or null when s is NULL or empty (an absent value). */
void lading_json_optional(FILE *out, const char *s);

/*
 * Enum <-> name tables (codec, layout, status, back end, source type): one
 * table per enum, in the module that owns the enum, ended by a NULL name.
 */
struct lading_enum_name {
	int value;
	const char *name;
};
/* The name of value, or "?" when the table has none. */
const char *lading_enum_name(const struct lading_enum_name *t, int value);
/* 0 and *value set, or -EINVAL when s names none. */
int lading_enum_parse(const struct lading_enum_name *t, const char *s, int *value);

/* ---- u64 -> u64 map (nids, inode numbers) ---------------------------- */

/*
 * A plain hash map for the many "have I seen this nid?" questions.
 * Values are u64 (counters, or pointers cast through uintptr_t).  Zero the
 * struct to start; pointers returned stay valid until the next insert.
 */
struct lading_idmap {
	uint64_t *keys;		/* key + 1; 0 = empty */
	uint64_t *values;
	size_t cap, used;
};

uint64_t *lading_idmap_find(const struct lading_idmap *m, uint64_t key);
/* The value slot for key (created zeroed if new); NULL on ENOMEM. */
uint64_t *lading_idmap_insert(struct lading_idmap *m, uint64_t key,
			      bool *created);
void lading_idmap_free(struct lading_idmap *m);

/* ---- progress --------------------------------------------------------- */

/*
 * A single redrawn stderr line, active only when stderr is a terminal and
 * the tool asked for it.  Updates are rate-limited internally.
 */
struct lading_progress {
	bool enabled;
	const char *label;
	uint64_t total;		/* 0 = unknown */
	uint64_t done;
	uint64_t last_draw_ns;
};

void lading_progress_init(struct lading_progress *p, bool want,
			  const char *label, uint64_t total);
void lading_progress_update(struct lading_progress *p, uint64_t done,
			    const char *what);
void lading_progress_finish(struct lading_progress *p);

#endif
