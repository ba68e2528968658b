// SPDX-License-Identifier: MIT
/*
 * Unit tests for lib/fetch: docker:// reference parsing; blob sources over
 * directories (found by id in the first directory that has it, read by
 * range, a missing id is -ENOENT); the chunk path (runs merge stored
 * neighbours only, and a batch into a cache file writes every good chunk
 * and nothing of a damaged one, a hole stays, from any number of
 * threads); and the registry client against a small HTTP server on
 * 127.0.0.1 in this process, which answers 401 with a Bearer challenge:
 * the client must take realm, service and scope from the WWW-Authenticate
 * header, fetch a token (sending USER:PASS from a base URL as Basic auth,
 * to the token realm only), and retry the blob with "Authorization: Bearer".
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lading/fetch.h>
#include <lading/store.h>
#include "check.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define BODY "0123456789abcdefghijklmnopqrstuvwxyz"

static void test_ref_parse(void)
{
	static const struct { const char *in, *host, *repo, *ref; } ok[] = {
		{ "docker://h:5000/a/b:v1", "h:5000", "a/b", "v1" },
		{ "docker://h/a/b", "h", "a/b", "latest" },
		{ "docker://h:5000/a", "h:5000", "a", "latest" },
		{ "docker://h/a@sha256:" ID, "h", "a", "sha256:" ID },
		{ "docker://u:p@h/r:t", "u:p@h", "r", "t" },
	};
	static const char *const bad[] = { "oci:x", "docker://", "docker://h",
					   "docker://h/", "docker:///r" };
	struct lading_error err = { 0 };
	char *host, *repo, *ref;
	size_t i;

	for (i = 0; i < LADING_ARRAY_SIZE(ok); i++) {
		CHECK(!lading_docker_ref_parse(ok[i].in, &host, &repo, &ref, &err));
		CHECK(host && !strcmp(host, ok[i].host));
		CHECK(repo && !strcmp(repo, ok[i].repo));
		CHECK(ref && !strcmp(ref, ok[i].ref));
		free(host);
		free(repo);
		free(ref);
	}
	for (i = 0; i < LADING_ARRAY_SIZE(bad); i++) {
		lading_error_clear(&err);
		CHECK(lading_docker_ref_parse(bad[i], &host, &repo, &ref, &err) == -EINVAL);
		CHECK(strstr(err.msg, bad[i]) != NULL);
		free(host);
		free(repo);
		free(ref);
	}
}

static void test_dir_source(void)
{
	char tmp[] = "/tmp/lading-fetch-dir-XXXXXX", path[128];
	const char *specs[1] = { tmp };
	struct lading_registry_opts opts = { 0 };
	struct lading_blob_sources *s = NULL;
	struct lading_blob_reader *r = lading_blob_reader_new();
	struct lading_blob_handle *h = NULL;
	struct lading_error err = { 0 };
	uint8_t buf[8];
	int fd;

	CHECK(r != NULL && mkdtemp(tmp) != NULL);
	snprintf(path, sizeof(path), "%s/%s", tmp, ID);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fd >= 0 && write(fd, BODY, strlen(BODY)) == (ssize_t)strlen(BODY));
	close(fd);
	CHECK(!lading_blob_sources_open(specs, 1, &opts, &s, &err));
	CHECK(!lading_blob_sources_find(s, ID, &h, &err) && h);
	if (h && r) {
		CHECK(!lading_blob_reader_read(r, h, 10, 8, buf, &err));
		CHECK(!memcmp(buf, "abcdefgh", 8));
		/* past the end */
		CHECK(lading_blob_reader_read(r, h, strlen(BODY) - 4, 8, buf, &err) < 0);
		lading_blob_handle_close(h);
	}
	lading_error_clear(&err);
	h = NULL;
	CHECK(lading_blob_sources_find(s, ID2, &h, &err) == -ENOENT);
	CHECK(strstr(err.msg, "not found") != NULL);
	lading_blob_reader_free(r);
	lading_blob_sources_close(s);
	unlink(path);
	rmdir(tmp);
}

/* ---- a registry on 127.0.0.1 ------------------------------------------ */

struct server {
	int lfd;
	unsigned short port;
	pthread_t thread;
	/* what the client sent, for the checks */
	char token_query[1024];
	char token_auth[256];
	bool blob_without_auth, blob_with_bearer, basic_to_blob;
	int requests;
};

static void header_value(const char *req, const char *name, char *out, size_t cap)
{
	const char *p = strcasestr(req, name);

	*out = '\0';
	if (p) {
		p += strlen(name);
		snprintf(out, cap, "%.*s", (int)strcspn(p, "\r\n"), p);
	}
}

static void reply(int fd, const char *status, const char *headers, const char *body,
		  bool head)
{
	char buf[2048];
	int n = snprintf(buf, sizeof(buf), "HTTP/1.1 %s\r\nConnection: close\r\n"
			 "Content-Length: %zu\r\n%s\r\n%s", status, strlen(body),
			 headers, head ? "" : body);

	if (write(fd, buf, (size_t)n) != n)
		return;
}

static void handle(struct server *sv, int fd)
{
	char req[8192] = "", path[1024], auth[256], range[128], hdr[512];
	size_t len = 0;
	ssize_t n;
	bool head;

	while (len < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
		n = read(fd, req + len, sizeof(req) - 1 - len);
		if (n <= 0)
			return;
		len += (size_t)n;
		req[len] = '\0';
	}
	sv->requests++;
	head = !strncmp(req, "HEAD ", 5);
	snprintf(path, sizeof(path), "%.*s", (int)strcspn(strchr(req, ' ') + 1, " "),
		 strchr(req, ' ') + 1);
	header_value(req, "\nAuthorization: ", auth, sizeof(auth));
	header_value(req, "\nRange: bytes=", range, sizeof(range));
	if (!strncmp(path, "/token", 6)) {
		snprintf(sv->token_query, sizeof(sv->token_query), "%s", path);
		snprintf(sv->token_auth, sizeof(sv->token_auth), "%s", auth);
		reply(fd, "200 OK", "Content-Type: application/json\r\n",
		      "{\"token\": \"T0K3N\", \"expires_in\": 300}", head);
		return;
	}
	if (strstr(path, ID)) {
		if (strncmp(auth, "Bearer ", 7)) {
			if (!strncmp(auth, "Basic ", 6))
				sv->basic_to_blob = true;
			sv->blob_without_auth = true;
			snprintf(hdr, sizeof(hdr), "WWW-Authenticate: Bearer realm=\"http://"
				 "127.0.0.1:%u/token\",service=\"svc.test\","
				 "scope=\"repository:lib/x:pull\"\r\n", sv->port);
			reply(fd, "401 Unauthorized", hdr, "", head);
			return;
		}
		sv->blob_with_bearer = !strcmp(auth, "Bearer T0K3N");
		if (*range) {
			unsigned long a = strtoul(range, NULL, 10),
				      b = strtoul(strchr(range, '-') + 1, NULL, 10);
			static const char body[] = BODY;
			char part[64];

			if (a > b || b >= sizeof(body) - 1 || b - a + 1 >= sizeof(part)) {
				reply(fd, "416 Range Not Satisfiable", "", "", head);
				return;
			}
			snprintf(part, sizeof(part), "%.*s", (int)(b - a + 1), &body[a]);
			snprintf(hdr, sizeof(hdr), "Content-Range: bytes %lu-%lu/%zu\r\n",
				 a, b, strlen(BODY));
			reply(fd, "206 Partial Content", hdr, part, head);
		} else {
			reply(fd, "200 OK", "", BODY, head);
		}
		return;
	}
	reply(fd, "404 Not Found", "", "", head);
}

static void *serve(void *ud)
{
	struct server *sv = ud;
	int fd;

	while ((fd = accept(sv->lfd, NULL, NULL)) >= 0) {
		handle(sv, fd);
		close(fd);
	}
	return NULL;
}

static int server_start(struct server *sv)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);

	memset(sv, 0, sizeof(*sv));
	sv->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sv->lfd < 0 || bind(sv->lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(sv->lfd, 16) || getsockname(sv->lfd, (struct sockaddr *)&a, &al))
		return -1;
	sv->port = ntohs(a.sin_port);
	return pthread_create(&sv->thread, NULL, serve, sv) ? -1 : 0;
}

static void server_stop(struct server *sv)
{
	shutdown(sv->lfd, SHUT_RDWR);
	pthread_join(sv->thread, NULL);
	close(sv->lfd);
}

static void test_bearer_auth(void)
{
	struct lading_registry_opts opts = { .plain_http = true, .creds = "" };
	struct lading_registry *r = NULL;
	struct lading_error err = { 0 };
	struct server sv;
	char host[64], *body = NULL;
	uint8_t buf[6];
	size_t len = 0;

	if (server_start(&sv)) {
		printf("SKIP: fetch: no socket on 127.0.0.1\n");
		return;
	}
	snprintf(host, sizeof(host), "127.0.0.1:%u", sv.port);
	opts.creds = NULL;
	setenv("DOCKER_CONFIG", "/nonexistent", 1);	/* no credentials of the host */
	CHECK(!lading_registry_open(host, "lib/x", &opts, &r, &err));
	CHECK(!lading_registry_get_range(r, "sha256:" ID, 4, 6, buf, &err));
	CHECK(!memcmp(buf, "456789", 6));
	CHECK(sv.blob_without_auth && sv.blob_with_bearer);
	/* realm, service and scope as the challenge gave them */
	CHECK(!strncmp(sv.token_query, "/token?", 7));
	CHECK(strstr(sv.token_query, "service=svc.test") != NULL);
	CHECK(strstr(sv.token_query, "scope=repository%3Alib%2Fx%3Apull") != NULL);
	CHECK(sv.token_auth[0] == '\0');	/* anonymous: no credentials */
	lading_registry_close(r);

	/* a base URL with USER:PASS@: Basic to the realm, never to the blob */
	memset(&sv.token_auth, 0, sizeof(sv.token_auth));
	sv.blob_with_bearer = sv.basic_to_blob = false;
	snprintf(host, sizeof(host), "http://u:p@127.0.0.1:%u/base/", sv.port);
	CHECK(!lading_registry_open_base_url(host, &opts, &r, &err));
	CHECK(!lading_registry_get_blob(r, "sha256:" ID, 1024, &body, &len, &err) ||
	      strstr(err.msg, "hash to") != NULL);	/* BODY is not ID's data */
	CHECK(!strcmp(sv.token_auth, "Basic dTpw"));
	CHECK(sv.blob_with_bearer && !sv.basic_to_blob);
	free(body);
	lading_registry_close(r);
	server_stop(&sv);
}

#define CHUNK 8192
#define NCHUNKS 7
#define TAIL 1000		/* the last chunk's bytes */

static char dir[] = "/tmp/lading-fetch-test-XXXXXX";
static uint8_t data[NCHUNKS][CHUNK];
static struct lading_blob_info info;
static struct lading_blob_record rec;

static size_t chunk_len(size_t k)
{
	return k == NCHUNKS - 1 ? TAIL : CHUNK;
}

/* Distinct, compressible chunks in an lz4 blob in dir/good. */
static int make_blob(void)
{
	struct lading_store_params p = { .chunk_size = CHUNK, .codec = LADING_CODEC_LZ4,
					 .level = -1 };
	struct lading_store *s = NULL;
	struct lading_chunk_ref ref;
	char *good = lading_path_join(dir, "good");
	bool existed;
	size_t k, i;
	int ret;

	p.blob_dir = good;
	ret = good && !lading_mkdir_p(good) ? lading_store_open(&s, &p) : -ENOMEM;
	for (k = 0; !ret && k < NCHUNKS; k++) {
		for (i = 0; i < CHUNK; i++)
			data[k][i] = (uint8_t)("lading"[i % 6] + k + i / 1000);
		ret = lading_store_add_chunk(s, data[k], chunk_len(k), &ref);
	}
	if (!ret)
		ret = lading_store_finish(s, &info);
	if (!ret)
		ret = lading_store_publish(s, &info, &existed);
	if (s)
		lading_store_free(s);
	lading_blob_record_from_info(&rec, &info);
	free(good);
	return ret;
}

/* dir/bad: the same blob with stored byte `at` of chunk k flipped. */
static void make_damaged(const struct lading_toc *toc, size_t k)
{
	char *src = lading_path_join(dir, "good"), *dst = lading_path_join(dir, "bad");
	char *from = lading_path_join(src, info.id), *to = lading_path_join(dst, info.id);
	uint8_t *buf = malloc(info.size);
	int fd = open(from, O_RDONLY);

	CHECK(buf && fd >= 0 && !lading_mkdir_p(dst));
	CHECK(!lading_pread_full(fd, buf, info.size, 0));
	close(fd);
	buf[lading_le64_to_cpu(toc->entries[k].coff) + lading_le32_to_cpu(toc->entries[k].clen) / 2] ^= 0x55;
	fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && !lading_pwrite_full(fd, buf, info.size, 0));
	close(fd);
	free(buf);
	free(from);
	free(to);
	free(src);
	free(dst);
}

static bool want_all(const void *ud, size_t k)
{
	(void)ud;
	(void)k;
	return true;
}

static bool want_odd(const void *ud, size_t k)
{
	(void)ud;
	return k % 2;
}

struct outcome {
	int res[NCHUNKS];
	unsigned runs, stop_after;
	int read_error, write_error;
};

static int record_run(void *ud, const struct lading_chunk_run *run)
{
	struct outcome *o = ud;
	size_t i;

	for (i = 0; i < run->count; i++)
		o->res[run->first + i] = run->res[i];
	o->read_error = o->read_error ? o->read_error : run->read_error;
	o->write_error = o->write_error ? o->write_error : run->write_error;
	return ++o->runs == o->stop_after;
}

static int cache_file(const char *name)
{
	char *path = lading_path_join(dir, name);
	int fd = path ? open(path, O_RDWR | O_CREAT | O_TRUNC, 0644) : -1;

	free(path);
	if (fd >= 0 && ftruncate(fd, (off_t)info.uncompressed_size) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Chunk k of the cache file holds its data, then zeros to 4 KiB. */
static bool chunk_in_cache(int fd, const struct lading_toc *toc, size_t k)
{
	const struct lading_toc_entry *e = &toc->entries[k];
	uint8_t got[CHUNK];
	size_t pad = LADING_ALIGN_UP((size_t)lading_le32_to_cpu(e->ulen), (size_t)LADING_BLOCK_SIZE), i;

	if (!lading_range_is_data(fd, lading_le64_to_cpu(e->uoff), pad) ||
	    lading_pread_full(fd, got, pad, lading_le64_to_cpu(e->uoff)) || memcmp(got, data[k], lading_le32_to_cpu(e->ulen)))
		return false;
	for (i = lading_le32_to_cpu(e->ulen); i < pad; i++)
		if (got[i])
			return false;
	return true;
}

/* Directories in order: an empty one, a missing one, the one with it. */
static void test_sources(void)
{
	char *none = lading_path_join(dir, "none"), *bad = lading_path_join(dir, "bad");
	char *good = lading_path_join(dir, "good");
	const char *specs[] = { none, bad, good };
	struct lading_blob_sources *srcs = NULL;
	struct lading_error err = { 0 };
	struct lading_blob_handle *h = NULL;

	CHECK(!lading_mkdir_p(none));
	CHECK(!lading_blob_sources_open(specs, 3, NULL, &srcs, &err));
	if (srcs) {
		CHECK(lading_blob_sources_find(srcs, "00ff", &h, &err) == -ENOENT);
		CHECK(strstr(err.msg, "blob 00ff: not found in the sources") != NULL);
		CHECK(h == NULL);
		lading_error_clear(&err);
		CHECK(!lading_blob_sources_find(srcs, info.id, &h, &err) && h);
		lading_blob_handle_close(h);
		lading_blob_sources_close(srcs);
	}
	free(none);
	free(bad);
	free(good);
}

/* Runs merge wanted neighbours up to a stored size, never across a gap. */
static void test_run_len(const struct lading_toc *toc)
{
	struct lading_toc gap = *toc;
	struct lading_toc_entry e[NCHUNKS];
	uint64_t two = lading_le64_to_cpu(toc->entries[2].coff) + lading_le32_to_cpu(toc->entries[2].clen) - lading_le64_to_cpu(toc->entries[1].coff);

	CHECK_EQ_U64(toc->count, NCHUNKS);
	CHECK_EQ_U64(lading_chunk_run_len(toc, 0, NCHUNKS, UINT64_MAX, want_all, NULL),
		     NCHUNKS);
	CHECK_EQ_U64(lading_chunk_run_len(toc, 1, NCHUNKS, two, want_all, NULL), 2);
	CHECK_EQ_U64(lading_chunk_run_len(toc, 1, NCHUNKS, two - 1, want_all, NULL), 1);
	CHECK_EQ_U64(lading_chunk_run_len(toc, 0, 1, 1, want_all, NULL), 1);
	CHECK_EQ_U64(lading_chunk_run_len(toc, 1, NCHUNKS, UINT64_MAX, want_odd, NULL), 1);
	CHECK_EQ_U64(lading_chunk_run_len(toc, 2, 5, UINT64_MAX, want_all, NULL), 3);
	memcpy(e, toc->entries, sizeof(e));
	gap.entries = e;
	e[3].coff = lading_cpu_to_le64(lading_le64_to_cpu(e[3].coff) + 1);		/* chunk 3 not right after chunk 2 */
	CHECK_EQ_U64(lading_chunk_run_len(&gap, 0, NCHUNKS, UINT64_MAX, want_all, NULL), 3);
}

static void test_run_read_write(struct lading_blob_sources *srcs,
				const struct lading_toc *toc)
{
	struct lading_chunk_fetcher *f = lading_chunk_fetcher_new();
	struct lading_error err = { 0 };
	struct lading_blob_handle *h = NULL;
	struct lading_toc bad = *toc;
	struct lading_toc_entry e[NCHUNKS];
	int res[NCHUNKS], fd = cache_file("cache-rw"), k;

	CHECK(f != NULL && fd >= 0);
	CHECK(!lading_blob_sources_find(srcs, info.id, &h, &err));
	if (!h)
		return;
	/* a digest that does not match: -EBADMSG, the others are written */
	memcpy(e, toc->entries, sizeof(e));
	bad.entries = e;
	e[2].digest[0] ^= 1;
	CHECK(!lading_chunk_run_read(f, h, &bad, 1, 3, res, &err));
	CHECK(res[0] == LADING_CHUNK_OK && res[1] == -EBADMSG && res[2] == LADING_CHUNK_OK);
	CHECK(!lading_chunk_run_write(f, fd, res));
	CHECK(res[0] == LADING_CHUNK_OK && res[1] == -EBADMSG && res[2] == LADING_CHUNK_OK);
	CHECK(chunk_in_cache(fd, toc, 1) && chunk_in_cache(fd, toc, 3));
	CHECK(!lading_range_is_data(fd, lading_le64_to_cpu(toc->entries[2].uoff), CHUNK));
	CHECK(!lading_range_is_data(fd, 0, CHUNK));
	/* chunks read along (skip): neither decoded nor written; a bad
	 * digest on a skipped chunk is not even looked at */
	{
		uint8_t skip[3] = { 0, 1, 0 };
		int sfd = cache_file("cache-skip");

		e[2].digest[0] ^= 1;
		e[1].digest[0] ^= 1;	/* chunk 1: bad, but not ours */
		CHECK(sfd >= 0);
		CHECK(!lading_chunk_run_read_some(f, h, &bad, 0, 3, skip, res, &err));
		CHECK(res[0] == LADING_CHUNK_OK && res[1] == LADING_CHUNK_NOT_WRITTEN &&
		      res[2] == LADING_CHUNK_OK);
		CHECK(!lading_chunk_run_write(f, sfd, res));
		CHECK(chunk_in_cache(sfd, toc, 0) && chunk_in_cache(sfd, toc, 2));
		CHECK(!lading_range_is_data(sfd, lading_le64_to_cpu(toc->entries[1].uoff), CHUNK));
		e[2].digest[0] ^= 1;
		e[1].digest[0] ^= 1;
		if (sfd >= 0)
			close(sfd);
	}
	/* in steps, out of order (the filler hands on what a read waits
	 * for first): one range read, then each chunk decoded and written */
	{
		int sfd = cache_file("cache-steps");

		CHECK(sfd >= 0);
		CHECK(!lading_chunk_run_fetch(f, h, &bad, 1, 3, &err));
		CHECK(lading_chunk_run_decode(f, 2) == LADING_CHUNK_OK);
		CHECK(!lading_chunk_run_write_one(f, sfd, 2));
		CHECK(chunk_in_cache(sfd, toc, 3) && !chunk_in_cache(sfd, toc, 1));
		CHECK(lading_chunk_run_decode(f, 1) == -EBADMSG);	/* chunk 2 */
		CHECK(lading_chunk_run_decode(f, 0) == LADING_CHUNK_OK);
		CHECK(!lading_chunk_run_write_one(f, sfd, 0));
		CHECK(chunk_in_cache(sfd, toc, 1));
		CHECK(!lading_range_is_data(sfd, lading_le64_to_cpu(toc->entries[2].uoff), CHUNK));
		/* outside the run fetched, or no fd */
		CHECK(lading_chunk_run_decode(f, 3) == LADING_CHUNK_NOT_WRITTEN);
		CHECK(lading_chunk_run_write_one(f, sfd, 3) == -EINVAL);
		CHECK(lading_chunk_run_write_one(f, -1, 0) == -EBADF);
		CHECK(lading_chunk_run_fetch(NULL, h, toc, 0, 1, &err) == -ENOMEM);
		lading_error_clear(&err);
		if (sfd >= 0)
			close(sfd);
	}
	/* no fd: nothing written, the good chunks say so */
	CHECK(!lading_chunk_run_read(f, h, toc, 5, 2, res, &err));
	CHECK(lading_chunk_run_write(f, -1, res) == -EBADF);
	CHECK(res[0] == LADING_CHUNK_NOT_WRITTEN && res[1] == LADING_CHUNK_NOT_WRITTEN);
	/* the short last chunk, zero padded */
	CHECK(!lading_chunk_run_read(f, h, toc, 6, 1, res, &err));
	CHECK(!lading_chunk_run_write(f, fd, res) && res[0] == LADING_CHUNK_OK);
	CHECK(chunk_in_cache(fd, toc, 6));
	/* a run not stored back to back is refused, nothing to write */
	e[2].digest[0] ^= 1;
	e[1].coff = lading_cpu_to_le64(lading_le64_to_cpu(e[1].coff) + 1);
	CHECK(lading_chunk_run_read(f, h, &bad, 0, 3, res, &err) == -EINVAL);
	for (k = 0; k < 3; k++)
		CHECK(res[k] == LADING_CHUNK_NOT_WRITTEN);
	CHECK(!lading_chunk_run_write(f, fd, res));
	/* a fetcher that could not be made */
	lading_error_clear(&err);
	CHECK(lading_chunk_run_read(NULL, h, toc, 0, 1, res, &err) == -ENOMEM);
	CHECK(!lading_chunk_run_write(NULL, fd, res));
	lading_chunk_fetcher_free(f);
	lading_blob_handle_close(h);
	close(fd);
}

/* A whole blob with a damaged chunk, by 1 and by 3 threads. */
static void test_batch(struct lading_blob_sources *srcs, const struct lading_toc *toc,
		       const char *name, unsigned threads, uint64_t run_max)
{
	struct lading_error err = { 0 };
	struct lading_blob_handle *h = NULL;
	struct outcome o = { .runs = 0 };
	struct lading_chunk_batch b = {
		.toc = toc, .fd = cache_file(name), .want = want_all,
		.run_max = run_max, .threads = threads, .done = record_run, .ud = &o,
	};
	size_t k;

	/* the damaged copy is in the source listed before the good one */
	CHECK(!lading_blob_sources_find(srcs, info.id, &h, &err));
	b.blob = h;
	CHECK(b.fd >= 0 && h);
	if (b.fd < 0 || !h)
		return;
	CHECK(!lading_chunk_batch_run(&b, &err));
	CHECK(!o.read_error && !o.write_error);
	for (k = 0; k < NCHUNKS; k++) {
		if (k == 4) {
			CHECK(o.res[k] < 0);
			CHECK(!lading_range_is_data(b.fd, lading_le64_to_cpu(toc->entries[k].uoff), CHUNK));
		} else {
			CHECK(o.res[k] == LADING_CHUNK_OK);
			CHECK(chunk_in_cache(b.fd, toc, k));
		}
	}
	if (run_max == 1)
		CHECK_EQ_U64(o.runs, NCHUNKS);	/* one chunk per run */
	else
		CHECK_EQ_U64(o.runs, 1);
	close(b.fd);
	lading_blob_handle_close(h);
}

/* Wanted chunks only; a non-zero done() starts no further run. */
static void test_batch_stop(struct lading_blob_sources *srcs,
			    const struct lading_toc *toc)
{
	struct lading_error err = { 0 };
	struct lading_blob_handle *h = NULL;
	struct outcome o = { .stop_after = 1 };
	struct lading_chunk_batch b = {
		.toc = toc, .fd = cache_file("cache-stop"), .want = want_odd,
		.run_max = UINT64_MAX, .threads = 1, .done = record_run, .ud = &o,
	};
	size_t k;

	CHECK(!lading_blob_sources_find(srcs, info.id, &h, &err));
	b.blob = h;
	if (b.fd < 0 || !h)
		return;
	CHECK(lading_chunk_batch_run(&b, &err) == 1);
	CHECK_EQ_U64(o.runs, 1);
	CHECK(o.res[1] == LADING_CHUNK_OK && chunk_in_cache(b.fd, toc, 1));
	for (k = 0; k < NCHUNKS; k++)
		if (k != 1)
			CHECK(!lading_range_is_data(b.fd, lading_le64_to_cpu(toc->entries[k].uoff), CHUNK));
	close(b.fd);
	lading_blob_handle_close(h);
}

static bool want_any(const void *ud, size_t k)
{
	(void)ud;
	(void)k;
	return true;
}

/*
 * A run is one range read decoded into one buffer: bounded by stored
 * bytes and by decoded bytes (16 MiB chunks stored in 100 bytes each
 * make runs of 4), and chunks sharing a stored byte still join a run.
 */
static void test_run_bounds(void)
{
	struct lading_toc_entry e[10];
	struct lading_toc toc = { .entries = e, .count = 10 };
	size_t i;

	memset(e, 0, sizeof(e));
	for (i = 0; i < 10; i++) {
		e[i].uoff = lading_cpu_to_le64((uint64_t)i << 24);
		e[i].ulen = lading_cpu_to_le32(1u << 24);
		e[i].coff = lading_cpu_to_le64(i * 100);
		e[i].clen = lading_cpu_to_le32(100);
	}
	CHECK_EQ_U64(lading_chunk_run_len(&toc, 0, 10, UINT64_MAX, want_any, NULL),
		     LADING_CHUNK_RUN_PLAIN_MAX >> 24);
	CHECK_EQ_U64(lading_chunk_run_len(&toc, 8, 10, UINT64_MAX, want_any, NULL), 2);
	CHECK_EQ_U64(lading_chunk_run_len(&toc, 0, 10, 250, want_any, NULL), 2);
	for (i = 0; i < 10; i++) {
		e[i].ulen = lading_cpu_to_le32(4096);
		e[i].uoff = lading_cpu_to_le64(i * 4096);
		e[i].clen = lading_cpu_to_le32(101);	/* shares a byte with the next */
	}
	CHECK_EQ_U64(lading_chunk_run_len(&toc, 0, 10, UINT64_MAX, want_any, NULL), 10);
	e[5].coff = lading_cpu_to_le64(350);		/* before chunk 4: a new run */
	CHECK_EQ_U64(lading_chunk_run_len(&toc, 0, 10, UINT64_MAX, want_any, NULL), 5);
}

/*
 * A prefetch run bridges a gap of at most max_gap stored bytes, or of a
 * quarter of the run, through chunks stored back to back, within the
 * run's stored and decoded bounds.
 */
static void test_run_bridge(void)
{
	struct lading_toc_entry e[10];
	struct lading_toc toc = { .entries = e, .count = 10 };
	size_t i;

	memset(e, 0, sizeof(e));
	for (i = 0; i < 10; i++) {
		e[i].uoff = lading_cpu_to_le64((uint64_t)i << 20);
		e[i].ulen = lading_cpu_to_le32(1u << 20);
		e[i].coff = lading_cpu_to_le64(i * 1000);
		e[i].clen = lading_cpu_to_le32(1000);
	}
	/* the gap is chunks 1-2 (2000 bytes) */
	CHECK(lading_chunk_run_bridge(&toc, 0, 1, 3, 2000, UINT64_MAX));
	CHECK(!lading_chunk_run_bridge(&toc, 0, 1, 3, 1999, UINT64_MAX));
	/* no gap: the next chunk; a chunk already in the run is no growth */
	CHECK(lading_chunk_run_bridge(&toc, 0, 1, 1, 0, UINT64_MAX));
	CHECK(!lading_chunk_run_bridge(&toc, 0, 2, 1, UINT64_MAX, UINT64_MAX));
	CHECK(!lading_chunk_run_bridge(&toc, 0, 1, 10, UINT64_MAX, UINT64_MAX));
	/* a run of 8000 bytes takes a gap of 2000 (a quarter) over max_gap */
	CHECK(lading_chunk_run_bridge(&toc, 0, 8, 8, 0, UINT64_MAX));
	CHECK(!lading_chunk_run_bridge(&toc, 0, 4, 6, 0, UINT64_MAX));
	CHECK(lading_chunk_run_bridge(&toc, 0, 4, 5, 0, UINT64_MAX));
	CHECK(!lading_chunk_run_bridge(&toc, 0, 6, 8, 1000, UINT64_MAX));
	CHECK(lading_chunk_run_bridge(&toc, 0, 6, 7, 0, UINT64_MAX));
	CHECK(lading_chunk_run_bridge(&toc, 0, 6, 8, 2000, UINT64_MAX));
	/* the grown run's stored bytes: [0, 4000) */
	CHECK(lading_chunk_run_bridge(&toc, 0, 1, 3, 2000, 4000));
	CHECK(!lading_chunk_run_bridge(&toc, 0, 1, 3, 2000, 3999));
	/* a chunk between not stored right after the one before: no bridge */
	e[2].coff = lading_cpu_to_le64(2001);
	CHECK(!lading_chunk_run_bridge(&toc, 0, 1, 3, UINT64_MAX, UINT64_MAX));
	e[2].coff = lading_cpu_to_le64(2000);
	/* decoded bytes bounded: 16 MiB chunks, runs of at most 4 */
	for (i = 0; i < 10; i++) {
		e[i].uoff = lading_cpu_to_le64((uint64_t)i << 24);
		e[i].ulen = lading_cpu_to_le32(1u << 24);
	}
	CHECK(lading_chunk_run_bridge(&toc, 0, 1, (LADING_CHUNK_RUN_PLAIN_MAX >> 24) - 1,
				      UINT64_MAX, UINT64_MAX));
	CHECK(!lading_chunk_run_bridge(&toc, 0, 1, LADING_CHUNK_RUN_PLAIN_MAX >> 24,
				       UINT64_MAX, UINT64_MAX));
}

/* A round trip's worth in bytes, from reads' timings. */
static void test_link_estimate(void)
{
	struct lading_link_estimate l = { 0 };
	/* 2 ms to the first byte, then 1 MiB in 8 ms */
	struct lading_read_timing big = { .first_byte_us = 2000, .total_us = 10000,
					  .bytes = 1u << 20 };
	struct lading_read_timing small = { .first_byte_us = 2000, .total_us = 2050,
					    .bytes = 4096 };
	struct lading_read_timing local = { .first_byte_us = 0, .total_us = 300,
					  .bytes = 1u << 20 };

	CHECK_EQ_U64(lading_link_round_trip_bytes(&l), UINT64_MAX);
	lading_link_note(&l, &local);	/* a directory says nothing */
	CHECK_EQ_U64(lading_link_round_trip_bytes(&l), UINT64_MAX);
	lading_link_note(&l, &small);		/* a round trip, no throughput */
	CHECK_EQ_U64(l.rtt_us, 2000);
	CHECK_EQ_U64(lading_link_round_trip_bytes(&l), UINT64_MAX);
	lading_link_note(&l, &big);		/* the whole read: 104,857 a ms */
	CHECK_EQ_U64(l.bytes_per_ms, 104857);
	CHECK_EQ_U64(lading_link_round_trip_bytes(&l), 209714);
	/* a slower link moves the estimate a quarter of the way */
	big.total_us = 2000 + 80000;		/* 12,787 bytes a ms */
	lading_link_note(&l, &big);
	CHECK_EQ_U64(l.bytes_per_ms, (3 * 104857 + 12787) / 4);
	/* a timing that makes no sense is not taken */
	big.total_us = 1000;
	lading_link_note(&l, &big);
	CHECK_EQ_U64(l.rtt_us, 2000);
}

int main(void)
{
	struct lading_blob_sources *srcs = NULL;
	struct lading_blob_handle *h = NULL;
	struct lading_error err = { 0 };
	struct lading_toc toc = { 0 };
	char cmd[128];

	test_ref_parse();
	test_run_bounds();
	test_link_estimate();
	test_dir_source();
	test_bearer_auth();
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	CHECK(!make_blob());
	test_sources();

	/* the good blob's ToC, then a damaged copy listed first */
	{
		char *good = lading_path_join(dir, "good");
		const char *one[] = { good };

		CHECK(!lading_blob_sources_open(one, 1, NULL, &srcs, &err));
		CHECK(srcs && !lading_blob_sources_find(srcs, info.id, &h, &err));
		CHECK(h && !lading_blob_read_toc(h, &rec, &toc, &err));
		lading_blob_handle_close(h);
		lading_blob_sources_close(srcs);
		srcs = NULL;
		free(good);
	}
	if (toc.count == NCHUNKS) {
		char *none = lading_path_join(dir, "none"), *bad = lading_path_join(dir, "bad");
		char *good = lading_path_join(dir, "good");
		const char *specs[] = { none, bad, good };

		make_damaged(&toc, 4);
		CHECK(!lading_blob_sources_open(specs, 3, NULL, &srcs, &err));
		test_run_len(&toc);
		test_run_bridge();
		test_run_read_write(srcs, &toc);
		test_batch(srcs, &toc, "cache-1", 1, UINT64_MAX);
		test_batch(srcs, &toc, "cache-3", 3, 1);
		test_batch_stop(srcs, &toc);
		lading_blob_sources_close(srcs);
		free(none);
		free(bad);
		free(good);
	}
	/* a ToC that does not match the record is named */
	lading_toc_free(&toc);
	rec.toc_digest[0] ^= 1;
	{
		char *good = lading_path_join(dir, "good");
		const char *one[] = { good };

		lading_error_clear(&err);
		CHECK(!lading_blob_sources_open(one, 1, NULL, &srcs, &err));
		CHECK(srcs && !lading_blob_sources_find(srcs, info.id, &h, &err));
		CHECK(h && lading_blob_read_toc(h, &rec, &toc, &err) == -EUCLEAN);
		CHECK(strstr(err.msg, "ToC digest differs") != NULL);
		lading_blob_handle_close(h);
		lading_blob_sources_close(srcs);
		free(good);
	}
	lading_toc_free(&toc);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	return check_summary("fetch");
}
