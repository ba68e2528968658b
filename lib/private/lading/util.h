/* SPDX-License-Identifier: MIT */
/*
 * liblading's internal plumbing (not installed): atomic output files
 * and directories, full I/O loops, sha256, paths, escaping, enum
 * tables, the id map and the progress line.
 */
#ifndef LADING_UTIL_H
#define LADING_UTIL_H

#include <lading/common.h>

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

/* ---- sha256 ----------------------------------------------------------- */

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

/* ---- small helpers ---------------------------------------------------- */

/* The value of one hex digit (either case), -1 if c is none. */
int lading_hex_value(char c);

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

/* Bytes of the printable UTF-8 character at s (1..4), 0 if not one. */
size_t lading_utf8_char_len(const char *s);

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
