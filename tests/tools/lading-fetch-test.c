// SPDX-License-Identifier: MIT
/*
 * Test helper for the registry client: fetches a blob from a registry
 * (plain http) whole, as a stream, or a byte range, and writes the bytes
 * to stdout.  usage: lading-fetch-test MODE HOST REPO DIGEST [OFF LEN]
 * MODE: blob | stream | range.  Exit 0 ok, 1 error (message on stderr).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lading/fetch.h>

int main(int argc, char **argv)
{
	struct lading_log log = { .prog = "lading-fetch-test", .level = LADING_LOG_INFO };
	struct lading_registry_opts opts = { .plain_http = true, .log = &log,
					     .max_retries = 3 };
	struct lading_error err = { 0 };
	struct lading_registry *r;
	int ret;

	if (argc < 5) {
		fprintf(stderr, "usage: %s blob|stream|range HOST REPO DIGEST [OFF LEN]\n",
			argv[0]);
		return 2;
	}
	opts.creds = getenv("LADING_TEST_CREDS");
	ret = lading_registry_open(argv[2], argv[3], &opts, &r, &err);
	if (!ret && !strcmp(argv[1], "blob")) {
		char *body;
		size_t len;

		ret = lading_registry_get_blob(r, argv[4], 64u << 20, &body, &len, &err);
		if (!ret) {
			ret = lading_write_full(1, body, len);
			free(body);
		}
	} else if (!ret && !strcmp(argv[1], "stream")) {
		lading_read_fn fn;
		void *ud;
		char buf[65536];
		ssize_t n;

		ret = lading_registry_blob_stream(r, argv[4], UINT64_MAX, &fn, &ud,
						  &err);
		while (!ret && (n = fn(ud, buf, sizeof(buf))) != 0) {
			if (n < 0) {
				const char *why = lading_registry_blob_stream_error(ud);

				ret = (int)n;
				lading_error_set(&err, -ret, "%s", why ? why : "stream failed");
				break;
			}
			ret = lading_write_full(1, buf, (size_t)n);
		}
		lading_registry_blob_stream_close(ud);
	} else if (!ret && !strcmp(argv[1], "range") && argc == 7) {
		uint64_t off = strtoull(argv[5], NULL, 10);
		size_t len = strtoull(argv[6], NULL, 10);
		uint8_t *buf = malloc(len ? len : 1);

		ret = buf ? lading_registry_get_range(r, argv[4], off, len, buf, &err) :
			    -ENOMEM;
		if (!ret)
			ret = lading_write_full(1, buf, len);
		free(buf);
	} else if (!ret) {
		fprintf(stderr, "unknown mode %s\n", argv[1]);
		ret = -EINVAL;
	}
	if (ret)
		fprintf(stderr, "lading-fetch-test: %s\n", lading_error_message(&err, ret));
	lading_registry_close(r);
	return ret ? 1 : 0;
}
