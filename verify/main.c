// SPDX-License-Identifier: MIT
/* lading-verify: argument parsing and reporting around lading_verify(). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "cli.h"
#include <lading/verify.h>

#define PROG "lading-verify"

enum { EXIT_OK = 0, EXIT_CHECK_FAILED = 1, EXIT_ERROR = 2 };

enum {
	OPT_NO_BLOB_DIGEST = 256,
	OPT_SOURCE_TYPE,
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
	CLI_REF_LONG_OPTIONS,
	CLI_REGISTRY_LONG_OPTIONS,
	CLI_COMMON_LONG_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *out)
{
	fputs(
"Usage: " PROG " [OPTIONS] REF\n"
"Check a lading bootstrap, its blobs and, optionally, its source.\n"
"\n"
CLI_REF_HELP
"  -b, --blob-dir DIR     look for blobs in DIR (repeatable; default: the\n"
"                         bootstrap's directory, oci:DIR's blobs/sha256;\n"
"                         a docker:// REF's: its repository)\n"
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
CLI_REGISTRY_HELP
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

static const char *const status_names[] = { "ok", "failed", "error" };

static json_t *blob_json(const struct lading_verify_blob *b, size_t slot)
{
	return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:s}",
			 "slot", (json_int_t)slot, "id", lading_json_str(b->id),
			 "path", lading_json_str_or_null(b->path),
			 "blocks", lading_json_u64(b->blocks),
			 "size", lading_json_u64(b->size),
			 "chunks", lading_json_u64(b->chunks),
			 "status", lading_blob_status_name(b->status));
}

/* The keys are the vocabulary of every lading tool (man/lading-verify.1). */
static int print_json(const struct lading_verify_report *r, int status)
{
	json_t *o = json_object(), *blobs = json_array(), *problems = json_array();
	size_t i;

	if (!o || !blobs || !problems) {
		json_decref(o);
		json_decref(blobs);
		json_decref(problems);
		return -ENOMEM;
	}
	json_object_set_new(o, "status", json_string(status_names[status]));
	cli_resolution_json(o, &r->resolved);
	/* false only when the bootstrap could not be read */
	json_object_set_new(o, "blobs_checked", json_boolean(r->blobs != NULL));
	json_object_set_new(o, "structure_ok", json_boolean(r->structure_ok));
	json_object_set_new(o, "inodes", lading_json_u64(r->inodes));
	json_object_set_new(o, "files", lading_json_u64(r->regular));
	json_object_set_new(o, "directories", lading_json_u64(r->directories));
	json_object_set_new(o, "symlinks", lading_json_u64(r->symlinks));
	json_object_set_new(o, "devices", lading_json_u64(r->devices));
	json_object_set_new(o, "fifos", lading_json_u64(r->fifos));
	json_object_set_new(o, "sockets", lading_json_u64(r->sockets));
	json_object_set_new(o, "hardlinks", lading_json_u64(r->hardlinks));
	json_object_set_new(o, "xattrs", lading_json_u64(r->xattrs));
	json_object_set_new(o, "file_bytes", lading_json_u64(r->file_bytes));
	json_object_set_new(o, "inline_files", lading_json_u64(r->inline_files));
	json_object_set_new(o, "chunks", lading_json_u64(r->chunks));
	json_object_set_new(o, "chunks_holes", lading_json_u64(r->holes));
	for (i = 0; i < r->nblobs; i++)
		json_array_append_new(blobs, blob_json(&r->blobs[i], i + 1));
	json_object_set_new(o, "blobs", blobs);
	json_object_set_new(o, "blob_bytes_hashed", lading_json_u64(r->blob_bytes_hashed));
	json_object_set_new(o, "blob_bytes_fetched", lading_json_u64(r->blob_bytes_fetched));
	json_object_set_new(o, "spans_checked", lading_json_u64(r->spans_checked));
	json_object_set_new(o, "source_compared", json_boolean(r->source_compared));
	json_object_set_new(o, "extracted", json_boolean(r->extracted));
	json_object_set_new(o, "problem_count", lading_json_u64(r->problems));
	for (i = 0; i < r->nlisted; i++)
		json_array_append_new(problems, lading_json_str(r->listed[i]));
	json_object_set_new(o, "problems", problems);
	return lading_json_print(stdout, o, false);
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
		       lading_blob_status_name(r->blobs[i].status));
	if (r->blob_bytes_fetched)
		printf("%llu blob bytes fetched\n",
		       (unsigned long long)r->blob_bytes_fetched);
	if (r->spans_checked)
		printf("%llu spans of kept layers checked\n",
		       (unsigned long long)r->spans_checked);
}

struct verify_cli {
	struct lading_log log;
	struct lading_verify_params p;
	struct cli_output out;
	const char **dirs;
	size_t ndirs;
};

/* CLI_CONTINUE when the options parsed, else the exit status. */
static int parse_options(int argc, char **argv, struct verify_cli *a)
{
	int c, status;

	while ((c = getopt_long(argc, argv, "b:s:T:x:vqhV", long_options,
				NULL)) != -1) {
		switch (c) {
		case 'b':
			a->dirs[a->ndirs++] = optarg;
			break;
		case OPT_NO_BLOB_DIGEST:
			a->p.blob_digest = false;
			break;
		case 's':
			a->p.source = optarg;
			break;
		case OPT_LAYER:
			a->p.source_is_layer = true;
			break;
		case OPT_SOURCE_TYPE:
			if (cli_parse_source_type(PROG, optarg, &a->p.source_type))
				return EXIT_ERROR;
			break;
		case 'x':
			a->p.extract_dir = optarg;
			break;
		case CLI_OPT_PLATFORM:
			a->p.platform = optarg;
			break;
		default:
			if (cli_registry_option(c, optarg, &a->p.registry))
				break;
			status = cli_build_option(c, PROG, optarg, &a->p.build);
			if (status == CLI_UNHANDLED)
				status = cli_common_option(c, PROG, &a->log, &a->out, usage);
			if (status != CLI_CONTINUE)
				return status;
		}
	}
	return CLI_CONTINUE;
}

/* Verifies, reports, and says why it failed: the exit status. */
static int run_verify(struct verify_cli *a)
{
	struct lading_verify_report r;
	struct lading_error err = { 0 };
	int ret, status;

	a->p.blob_dirs = a->dirs;
	a->p.nblob_dirs = a->ndirs;
	a->p.log = &a->log;
	a->p.registry.log = &a->log;
	ret = lading_verify(&a->p, &r, &err);
	if (!a->out.json)
		cli_resolution_log(&a->log, &r.resolved);
	status = ret == 0 ? EXIT_OK : ret == -EUCLEAN ? EXIT_CHECK_FAILED : EXIT_ERROR;
	if (a->out.json && print_json(&r, status)) {
		lading_log_msg(&a->log, LADING_LOG_ERROR, "cannot print the report");
		status = EXIT_ERROR;
	} else if (!a->out.json && a->log.level >= LADING_LOG_INFO) {
		print_human(&r);
	}
	if (status == EXIT_CHECK_FAILED)
		lading_log_msg(&a->log, LADING_LOG_ERROR, "%s: %llu problem%s%s%s",
			       a->p.bootstrap, (unsigned long long)r.problems,
			       r.problems == 1 ? "" : "s",
			       r.nlisted ? ", first: " : "",
			       r.nlisted ? r.listed[0] : "");
	else if (status == EXIT_ERROR)
		lading_log_msg(&a->log, LADING_LOG_ERROR, "%s",
			       lading_error_message(&err, ret));
	lading_verify_report_free(&r);
	return status;
}

int main(int argc, char **argv)
{
	struct verify_cli a = {
		.log = { .prog = PROG, .level = LADING_LOG_INFO },
		.out = { .progress = false },	/* verify draws none */
	};
	int status;

	cli_init_locale();
	lading_verify_params_init(&a.p);
	if (cli_build_options_init(PROG, &a.p.build))
		return EXIT_ERROR;
	a.dirs = calloc((size_t)argc, sizeof(*a.dirs));
	if (!a.dirs)
		return EXIT_ERROR;
	status = parse_options(argc, argv, &a);
	if (status != CLI_CONTINUE)
		goto out;
	if (argc - optind != 1) {
		status = usage_error("expected one REF (a bootstrap path or an image "
				     "reference)");
		goto out;
	}
	a.p.bootstrap = argv[optind];
	status = run_verify(&a);
out:
	free(a.dirs);
	return status;
}
