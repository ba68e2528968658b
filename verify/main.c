// SPDX-License-Identifier: MIT
/* lading-verify: argument parsing and reporting around lading_verify(). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include <lading/verify.h>

#define PROG "lading-verify"

enum { EXIT_OK = 0, EXIT_CHECK_FAILED = 1, EXIT_ERROR = 2 };

enum {
	OPT_NO_BLOB_DIGEST = 256,
	OPT_SOURCE_TYPE,
	OPT_JSON,
	OPT_LAYER,
};

static const struct option long_options[] = {
	{ "blob-dir", required_argument, NULL, 'b' },
	{ "no-blob-digest", no_argument, NULL, OPT_NO_BLOB_DIGEST },
	{ "source", required_argument, NULL, 's' },
	{ "source-type", required_argument, NULL, OPT_SOURCE_TYPE },
	{ "layer", no_argument, NULL, OPT_LAYER },
	CLI_MTIME_LONG_OPTION,
	CLI_POLICY_LONG_OPTIONS,
	{ "extract", required_argument, NULL, 'x' },
	{ "json", no_argument, NULL, OPT_JSON },
	CLI_COMMON_LONG_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *out)
{
	fputs(
"Usage: " PROG " [OPTIONS] BOOTSTRAP\n"
"Check a lading bootstrap, its blobs and, optionally, its source.\n"
"\n"
"  -b, --blob-dir DIR     look for blobs in DIR (repeatable; default:\n"
"                         BOOTSTRAP's directory)\n"
"      --no-blob-digest   skip hashing whole blobs (structure, sizes and\n"
"                         chunk ranges are still checked)\n"
"  -s, --source PATH      compare with a directory or a tar (any compression\n"
"                         lading-mkimage reads) without mounting\n"
"      --source-type TYPE auto (default), dir or tar\n"
"      --layer            the source is an image layer: its whiteouts are\n"
"                         removals, not entries (lading-convert\n"
"                         --layer-bootstraps writes images to check)\n"
"  -T, --mtime SECONDS    the build's mtime clamp (default $SOURCE_DATE_EPOCH)\n"
"      --nsec             compare nanosecond mtimes\n"
"      --all-root, --uid N, --gid N\n"
"                         the build's ownership policy\n"
"  -x, --extract DIR      write the image's tree into DIR (owners, xattrs\n"
"                         and devices when run as root)\n"
"      --json             print a JSON report on stdout\n"
"  -v, --verbose          more messages\n"
"  -q, --quiet            print nothing but errors\n"
"  -h, --help             this help\n"
"  -V, --version          print the version\n"
"\n"
"Exit status: 0 every check passed, 1 a check failed (corrupt image or blob,\n"
"or a difference from the source), 2 usage or I/O error.\n", out);
}

#define usage_error(...) cli_usage_error(PROG, __VA_ARGS__)

static const char *blob_status_name(enum lading_blob_status s)
{
	static const char *const names[] = {
		"ok", "unchecked", "missing", "bad-tag", "bad-size",
		"bad-digest", "io-error", "bad-toc", "bad-chunk",
	};

	return names[s];
}

static void print_json(const struct lading_verify_report *r, int status)
{
	size_t i;

	printf("{\n  \"status\": \"%s\",\n", status == 0 ? "ok" :
	       status == 1 ? "failed" : "error");
	printf("  \"structure_ok\": %s,\n", r->structure_ok ? "true" : "false");
	printf("  \"inodes\": %llu,\n  \"regular\": %llu,\n  \"directories\": %llu,\n"
	       "  \"symlinks\": %llu,\n  \"devices\": %llu,\n  \"fifos\": %llu,\n"
	       "  \"sockets\": %llu,\n  \"hardlinks\": %llu,\n  \"xattrs\": %llu,\n"
	       "  \"file_bytes\": %llu,\n  \"inline_files\": %llu,\n"
	       "  \"chunks\": %llu,\n  \"holes\": %llu,\n",
	       (unsigned long long)r->inodes, (unsigned long long)r->regular,
	       (unsigned long long)r->directories,
	       (unsigned long long)r->symlinks, (unsigned long long)r->devices,
	       (unsigned long long)r->fifos, (unsigned long long)r->sockets,
	       (unsigned long long)r->hardlinks, (unsigned long long)r->xattrs,
	       (unsigned long long)r->file_bytes,
	       (unsigned long long)r->inline_files,
	       (unsigned long long)r->chunks, (unsigned long long)r->holes);
	printf("  \"blobs\": [");
	for (i = 0; i < r->nblobs; i++) {
		const struct lading_verify_blob *b = &r->blobs[i];

		printf("%s\n    {\"slot\": %zu, \"id\": ", i ? "," : "", i + 1);
		lading_json_string(stdout, b->id);
		printf(", \"path\": ");
		lading_json_optional(stdout, b->path);
		printf(", \"blocks\": %llu, \"size\": %llu, \"chunks\": %llu, "
		       "\"status\": \"%s\"}", (unsigned long long)b->blocks,
		       (unsigned long long)b->size, (unsigned long long)b->chunks,
		       blob_status_name(b->status));
	}
	printf("%s],\n", r->nblobs ? "\n  " : "");
	printf("  \"blob_bytes_hashed\": %llu,\n",
	       (unsigned long long)r->blob_bytes_hashed);
	printf("  \"source_compared\": %s,\n  \"extracted\": %s,\n",
	       r->source_compared ? "true" : "false",
	       r->extracted ? "true" : "false");
	printf("  \"problem_count\": %llu,\n  \"problems\": [",
	       (unsigned long long)r->problems);
	for (i = 0; i < r->nlisted; i++) {
		printf("%s\n    ", i ? "," : "");
		lading_json_string(stdout, r->listed[i]);
	}
	printf("%s]\n}\n", r->nlisted ? "\n  " : "");
}

static void print_human(const struct lading_verify_report *r)
{
	size_t i;

	for (i = 0; i < r->nlisted; i++) {
		lading_fputs_escaped(stdout, r->listed[i]);	/* names inside */
		putchar('\n');
	}
	if (r->problems > r->nlisted)
		printf("... and %llu more\n",
		       (unsigned long long)(r->problems - r->nlisted));
	printf("%llu inodes (%llu files, %llu dirs, %llu symlinks, %llu other), "
	       "%llu hardlinks, %llu bytes, %llu chunks (%llu holes), "
	       "%u blobs\n",
	       (unsigned long long)r->inodes, (unsigned long long)r->regular,
	       (unsigned long long)r->directories,
	       (unsigned long long)r->symlinks,
	       (unsigned long long)(r->devices + r->fifos + r->sockets),
	       (unsigned long long)r->hardlinks,
	       (unsigned long long)r->file_bytes,
	       (unsigned long long)r->chunks, (unsigned long long)r->holes,
	       r->nblobs);
	for (i = 0; i < r->nblobs; i++)
		printf("blob %s: %s\n", r->blobs[i].id,
		       blob_status_name(r->blobs[i].status));
}

int main(int argc, char **argv)
{
	struct lading_log log = { .prog = PROG, .level = LADING_LOG_INFO };
	struct lading_verify_params p;
	struct lading_verify_report r;
	struct lading_error err = { 0 };
	const char **dirs = NULL;
	size_t ndirs = 0;
	bool json = false;
	int c, ret, status;

	cli_init_locale();
	lading_verify_params_init(&p);
	if (cli_build_options_init(PROG, &p.build))
		return EXIT_ERROR;
	dirs = calloc((size_t)argc, sizeof(*dirs));
	if (!dirs)
		return EXIT_ERROR;
	while ((c = getopt_long(argc, argv, "b:s:T:x:vqhV", long_options,
				NULL)) != -1) {
		switch (c) {
		case 'b':
			dirs[ndirs++] = optarg;
			break;
		case OPT_NO_BLOB_DIGEST:
			p.blob_digest = false;
			break;
		case 's':
			p.source = optarg;
			break;
		case OPT_LAYER:
			p.source_is_layer = true;
			break;
		case OPT_SOURCE_TYPE:
			if (cli_parse_source_type(PROG, optarg, &p.source_type)) {
				status = EXIT_ERROR;
				goto out;
			}
			break;
		case 'x':
			p.extract_dir = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		default:
			status = cli_build_option(c, PROG, optarg, &p.build);
			if (status == CLI_UNHANDLED)
				status = cli_common_option(c, PROG, &log, NULL, usage);
			if (status != CLI_CONTINUE)
				goto out;
		}
	}
	if (argc - optind != 1) {
		status = usage_error("expected one BOOTSTRAP");
		goto out;
	}
	p.bootstrap = argv[optind];
	p.blob_dirs = dirs;
	p.nblob_dirs = ndirs;
	p.log = &log;

	ret = lading_verify(&p, &r, &err);
	status = ret == 0 ? EXIT_OK : ret == -EUCLEAN ? EXIT_CHECK_FAILED : EXIT_ERROR;
	if (json)
		print_json(&r, status);
	else if (log.level >= LADING_LOG_INFO)
		print_human(&r);
	if (status == EXIT_CHECK_FAILED)
		lading_log_msg(&log, LADING_LOG_ERROR, "%s: %llu problem%s%s%s",
			       p.bootstrap, (unsigned long long)r.problems,
			       r.problems == 1 ? "" : "s",
			       r.nlisted ? ", first: " : "",
			       r.nlisted ? r.listed[0] : "");
	else if (status == EXIT_ERROR)
		lading_log_msg(&log, LADING_LOG_ERROR, "%s",
			       lading_error_message(&err, ret));
	lading_verify_report_free(&r);
out:
	free(dirs);
	return status;
}
