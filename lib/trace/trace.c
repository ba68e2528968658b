// SPDX-License-Identifier: MIT
/*
 * Access traces: what `lading-fill mount --record` writes and
 * `--prefetch-trace` replays (format in fill.h and lading-fill(1)).
 * A trace is input like any other: every line is bounded, every field
 * checked, and a problem is one message naming the file and the line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lading/trace.h>
#include <lading/util.h>

#define TRACE_PATH_MAX 4095	/* unescaped bytes */

int lading_trace_add(struct lading_trace *t, uint64_t ms, const char *blob,
		     uint32_t chunk, const char *path)
{
	struct lading_trace_entry *e;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct lading_trace_entry *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	e = &t->v[t->n];
	e->ms = ms;
	snprintf(e->blob, sizeof(e->blob), "%s", blob);
	e->chunk = chunk;
	e->path = path ? strdup(path) : NULL;
	if (path && !e->path)
		return -ENOMEM;
	t->n++;
	return 0;
}

void lading_trace_free(struct lading_trace *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].path);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

/* ---- parsing ---------------------------------------------------------- */

/* A decimal number up to max, no sign, no leading junk. */
static const char *parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return NULL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return NULL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return s;
}

/* Unescapes path (NUL-terminated) into out; the problem, or NULL. */
static const char *unescape_path(const char *s, char *out)
{
	size_t n = 0;

	if (!strcmp(s, "-")) {
		out[0] = '\0';
		return NULL;
	}
	if (s[0] != '/')
		return "path does not start with '/'";
	while (*s) {
		unsigned char c = (unsigned char)*s;
		int hi, lo;

		if (n == TRACE_PATH_MAX)
			return "path too long";
		if (c <= ' ' || c == 0x7f)
			return "unescaped control character or space in the path";
		if (c != '\\') {
			out[n++] = (char)c;
			s++;
			continue;
		}
		if (s[1] == '\\') {
			out[n++] = '\\';
			s += 2;
			continue;
		}
		if (s[1] != 'x' || (hi = lading_hex_value(s[2])) < 0 || (lo = lading_hex_value(s[3])) < 0)
			return "bad escape in the path";
		if (!(hi << 4 | lo))
			return "NUL in the path";
		out[n++] = (char)(hi << 4 | lo);
		s += 4;
	}
	out[n] = '\0';
	return NULL;
}

/* One record line (NUL-terminated, no newline); the problem, or NULL. */
static const char *parse_record(const char *s, struct lading_trace *t, char *path)
{
	uint64_t ms, chunk;
	char blob[LADING_DIGEST_HEX_LEN + 1];
	const char *why;
	size_t i;

	s = parse_u64(s, UINT64_MAX / 2, &ms);
	if (!s || *s++ != ' ')
		return "expected '<ms> <blob-id> <chunk> <path>'";
	for (i = 0; i < LADING_DIGEST_HEX_LEN; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return "blob id is not 64 lowercase hex digits";
		blob[i] = s[i];
	}
	blob[i] = '\0';
	s += i;
	if (*s++ != ' ')
		return "blob id is not 64 lowercase hex digits";
	s = parse_u64(s, UINT32_MAX, &chunk);
	if (!s || *s++ != ' ')
		return "bad chunk index (a decimal number below 2^32)";
	why = unescape_path(s, path);
	if (why)
		return why;
	return lading_trace_add(t, ms, blob, (uint32_t)chunk, path[0] ? path : NULL) ?
	       "out of memory" : NULL;
}

int lading_trace_parse(const char *buf, size_t len, const char *name,
		       struct lading_trace *t, struct lading_error *err)
{
	char *line = malloc(LADING_TRACE_LINE_MAX + 1), *path = malloc(TRACE_PATH_MAX + 1);
	size_t at = 0, lineno = 0;
	const char *why = NULL;

	memset(t, 0, sizeof(*t));
	if (!line || !path) {
		free(line);
		free(path);
		return lading_error_set(err, ENOMEM, "out of memory");
	}
	while (at < len && !why) {
		const char *nl = memchr(buf + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (buf + at)) : len - at;

		lineno++;
		if (n > LADING_TRACE_LINE_MAX)
			why = "line too long";
		else if (memchr(buf + at, '\0', n))
			why = "NUL byte";
		if (why)
			break;
		memcpy(line, buf + at, n);
		line[n] = '\0';
		at += n + (nl ? 1 : 0);
		if (lineno == 1)
			why = strcmp(line, LADING_TRACE_MAGIC) ?
			      "not a trace (expected the header '" LADING_TRACE_MAGIC "')" : NULL;
		else if (line[0] && line[0] != '#')
			why = parse_record(line, t, path);
	}
	if (!why && !lineno) {
		lineno = 1;
		why = "empty file (expected the header '" LADING_TRACE_MAGIC "')";
	}
	free(line);
	free(path);
	if (!why)
		return 0;
	lading_trace_free(t);
	return lading_error_set(err, EINVAL, "%s:%zu: %s", name, lineno, why);
}

int lading_trace_load(const char *path, struct lading_trace *t,
		      struct lading_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), ret;
	struct stat st;
	char *buf;

	memset(t, 0, sizeof(*t));
	if (fd < 0)
		return lading_error_set(err, errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > LADING_TRACE_FILE_MAX) {
		ret = lading_error_set(err, EINVAL, "%s: %s", path,
				       !S_ISREG(st.st_mode) ? "not a regular file" :
				       "larger than 256 MiB: not a trace");
		close(fd);
		return ret;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return lading_error_set(err, ENOMEM, "out of memory");
	}
	ret = lading_pread_full(fd, buf, (size_t)st.st_size, 0);
	close(fd);
	if (ret)
		ret = lading_error_set(err, -ret, "%s: %s", path,
				       ret == -EIO ? "short read" : strerror(-ret));
	else
		ret = lading_trace_parse(buf, (size_t)st.st_size, path, t, err);
	free(buf);
	return ret;
}

/* ---- merging ---------------------------------------------------------- */

struct merge_item {
	const struct lading_trace_entry *e;
	size_t order;			/* input position: the tie break */
};

static int by_key(const void *a, const void *b)
{
	const struct merge_item *x = a, *y = b;
	int c = strcmp(x->e->blob, y->e->blob);

	if (c)
		return c;
	if (x->e->chunk != y->e->chunk)
		return x->e->chunk < y->e->chunk ? -1 : 1;
	if (x->e->ms != y->e->ms)
		return x->e->ms < y->e->ms ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int by_time(const void *a, const void *b)
{
	const struct merge_item *x = a, *y = b;

	if (x->e->ms != y->e->ms)
		return x->e->ms < y->e->ms ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

int lading_trace_merge(struct lading_trace *out, const struct lading_trace *in,
		       size_t n, struct lading_error *err)
{
	struct merge_item *items;
	size_t total = 0, i, k, m = 0;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < n; i++)
		total += in[i].n;
	items = calloc(total ? total : 1, sizeof(*items));
	if (!items)
		return lading_error_set(err, ENOMEM, "out of memory");
	for (i = 0, total = 0; i < n; i++)
		for (k = 0; k < in[i].n; k++, total++) {
			items[total].e = &in[i].v[k];
			items[total].order = total;
		}
	/* the earliest of each (blob, chunk) first, then keep only it */
	qsort(items, total, sizeof(*items), by_key);
	for (i = 0; i < total; i++)
		if (!m || strcmp(items[m - 1].e->blob, items[i].e->blob) ||
		    items[m - 1].e->chunk != items[i].e->chunk)
			items[m++] = items[i];
	qsort(items, m, sizeof(*items), by_time);
	for (i = 0; i < m && !ret; i++)
		ret = lading_trace_add(out, items[i].e->ms, items[i].e->blob,
				       items[i].e->chunk, items[i].e->path);
	free(items);
	if (ret) {
		lading_trace_free(out);
		return lading_error_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

/* ---- writing ---------------------------------------------------------- */

static void escape_path(FILE *f, const char *p)
{
	if (!p) {
		fputc('-', f);
		return;
	}
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '\\')
			fputs("\\\\", f);
		else if (c <= ' ' || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

int lading_trace_format(const struct lading_trace *t, char **buf, size_t *len)
{
	FILE *f = open_memstream(buf, len);
	size_t i;
	int ret;

	if (!f)
		return -ENOMEM;
	fprintf(f, "%s\n", LADING_TRACE_MAGIC);
	for (i = 0; i < t->n; i++) {
		fprintf(f, "%llu %s %u ", (unsigned long long)t->v[i].ms,
			t->v[i].blob, t->v[i].chunk);
		escape_path(f, t->v[i].path);
		fputc('\n', f);
	}
	ret = ferror(f) ? -ENOMEM : 0;
	if (fclose(f) && !ret)
		ret = -ENOMEM;
	if (ret) {
		free(*buf);
		*buf = NULL;
	}
	return ret;
}

int lading_trace_write(const char *path, const struct lading_trace *t,
		       struct lading_error *err)
{
	struct lading_outfile of;
	char *dir = lading_path_dirname(path), *buf = NULL;
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t len = 0;
	int ret;

	if (!dir)
		return lading_error_set(err, ENOMEM, "out of memory");
	ret = lading_outfile_open(&of, dir);
	free(dir);
	if (ret)
		return lading_error_set(err, -ret, "%s: %s", path, strerror(-ret));
	ret = lading_trace_format(t, &buf, &len);
	if (!ret)
		ret = lading_write_full(of.fd, buf, len);
	free(buf);
	if (!ret)
		ret = lading_outfile_commit(&of, name);
	lading_outfile_abort(&of);
	if (ret)
		return lading_error_set(err, -ret, "%s: %s", path, strerror(-ret));
	return 0;
}
