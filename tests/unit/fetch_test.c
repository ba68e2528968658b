// SPDX-License-Identifier: MIT
/*
 * Unit tests for lib/fetch: docker:// reference parsing; blob sources over
 * a directory (found by id, read by range, a missing id is -ENOENT); and
 * the registry client against a small HTTP server on 127.0.0.1 in this
 * process, which answers 401 with a Bearer challenge: the client must
 * take realm, service and scope from the WWW-Authenticate header, fetch a
 * token (sending USER:PASS from a base URL as Basic auth, to the token
 * realm only), and retry the blob with "Authorization: Bearer".
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
	char dir[] = "/tmp/lading-fetch-test-XXXXXX", path[128];
	const char *specs[1] = { dir };
	struct lading_registry_opts opts = { 0 };
	struct lading_blob_sources *s = NULL;
	struct lading_blob_handle h;
	struct lading_error err = { 0 };
	uint8_t buf[8];
	int fd;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/%s", dir, ID);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fd >= 0 && write(fd, BODY, strlen(BODY)) == (ssize_t)strlen(BODY));
	close(fd);
	CHECK(!lading_blob_sources_open(specs, 1, &opts, &s, &err));
	CHECK(!lading_blob_sources_find(s, ID, &h, &err));
	CHECK(!strcmp(h.digest, "sha256:" ID));
	CHECK(!lading_blob_read(&h, 10, 8, buf, &err));
	CHECK(!memcmp(buf, "abcdefgh", 8));
	CHECK(lading_blob_read(&h, strlen(BODY) - 4, 8, buf, &err) < 0);	/* past the end */
	lading_blob_handle_close(&h);
	lading_error_clear(&err);
	CHECK(lading_blob_sources_find(s, ID2, &h, &err) == -ENOENT);
	CHECK(strstr(err.msg, "not found") != NULL);
	lading_blob_sources_close(s);
	unlink(path);
	rmdir(dir);
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
	CHECK(!lading_registry_open_url(host, &opts, &r, &err));
	CHECK(!lading_registry_get_blob(r, "sha256:" ID, 1024, &body, &len, &err) ||
	      strstr(err.msg, "hash to") != NULL);	/* BODY is not ID's data */
	CHECK(!strcmp(sv.token_auth, "Basic dTpw"));
	CHECK(sv.blob_with_bearer && !sv.basic_to_blob);
	free(body);
	lading_registry_close(r);
	server_stop(&sv);
}

int main(void)
{
	test_ref_parse();
	test_dir_source();
	test_bearer_auth();
	return check_summary("fetch");
}
