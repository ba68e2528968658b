// SPDX-License-Identifier: MIT
/* lading-mkimage: argument parsing and reporting around lading_build(). */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "cli.h"
#include <lading/build.h>

#define PROG "lading-mkimage"

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,
	EXIT_USAGE = 2,
};

enum {
	OPT_SOURCE_TYPE = 256,
};

static const struct option long_options[] = {
	{ "blob-dir", required_argument, NULL, 'b' },
	CLI_CHUNK_LONG_OPTIONS,
	CLI_MTIME_LONG_OPTION,
	CLI_POLICY_LONG_OPTIONS,
	{ "uuid", required_argument, NULL, 'U' },
	{ "label", required_argument, NULL, 'L' },
	{ "source-type", required_argument, NULL, OPT_SOURCE_TYPE },
	CLI_COMMON_LONG_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *out)
{
	fputs(
"Usage: " PROG " [OPTIONS] BOOTSTRAP SOURCE\n"
"Build a metadata-only EROFS bootstrap and one deduplicated chunk blob.\n"
"\n"
"SOURCE is a directory, a tar archive (plain, gzip, xz, zstd, bzip2; detected\n"
"from the content) or '-' for a tar on standard input.\n"
"\n"
"  -b, --blob-dir DIR       write the blob into DIR (default: BOOTSTRAP's dir)\n",
	      out);
	cli_chunk_help(out);
	fputs(
"  -T, --mtime SECONDS      clamp every mtime to at most SECONDS; also the mtime\n"
"                           of directories a tar implies (default:\n"
"                           $SOURCE_DATE_EPOCH when set)\n"
"      --nsec               keep nanosecond mtimes (extended inodes)\n"
"  -U, --uuid UUID          volume UUID (default: derived from the content)\n"
"  -L, --label NAME         volume name, at most 16 bytes\n"
"      --all-root           make every file owned by 0:0\n"
"      --uid N, --gid N     force every file's owner / group\n"
"      --source-type TYPE   auto (default), dir or tar\n"
"      --json               print a JSON report on stdout\n"
"      --no-progress        no progress line, even on a terminal\n"
"  -v, --verbose            more messages (repeatable)\n"
"  -q, --quiet              errors only\n"
"  -h, --help               this help\n"
"  -V, --version            print the version\n"
"\n"
"Exit status: 0 success, 1 the image could not be built (bad input or an\n"
"I/O error; nothing is left behind), 2 usage error.\n", out);
}

static int parse_uuid(const char *s, uint8_t *uuid)
{
	char hex[33];
	size_t n = 0;

	for (; *s; s++) {
		if (*s == '-')
			continue;
		if (n == 32)
			return -EINVAL;
		hex[n++] = *s;
	}
	hex[n] = '\0';
	return n == 32 ? lading_hex_decode(uuid, hex, 16) : -EINVAL;
}

/* The keys are the vocabulary of every lading tool (man/lading-mkimage.1). */
static int print_json(const struct lading_build_report *r)
{
	const struct lading_source_stats *s = &r->source;
	const struct lading_store_stats *st = &r->store;
	char uuid[33], toc[LADING_DIGEST_HEX_LEN + 1];
	json_t *o = json_object();

	lading_hex_encode(uuid, r->erofs.uuid, 16);
	lading_hex_encode(toc, r->blob.toc_digest, LADING_SHA256_LEN);
	if (!o)
		return -ENOMEM;
	json_object_set_new(o, "bootstrap_path", lading_json_str(r->bootstrap));
	json_object_set_new(o, "bootstrap_id", json_string(r->bootstrap_digest));
	json_object_set_new(o, "bootstrap_size", lading_json_u64(r->bootstrap_size));
	json_object_set_new(o, "blob_dir", lading_json_str(r->blob_dir));
	json_object_set_new(o, "blob_id", r->blob.present ? json_string(r->blob.id) :
			    json_null());
	json_object_set_new(o, "blob_size", lading_json_u64(r->blob.size));
	json_object_set_new(o, "blob_uncompressed_size",
			    lading_json_u64(r->blob.uncompressed_size));
	json_object_set_new(o, "codec", json_string(lading_codec_name(r->blob.codec)));
	if (r->blob.present)
		json_object_set_new(o, "toc_sha256", json_string(toc));
	json_object_set_new(o, "uuid", json_string(uuid));
	json_object_set_new(o, "inodes", lading_json_u64(r->erofs.inodes));
	json_object_set_new(o, "compact_inodes", lading_json_u64(r->erofs.compact_inodes));
	json_object_set_new(o, "extended_inodes",
			    lading_json_u64(r->erofs.extended_inodes));
	json_object_set_new(o, "entries", lading_json_u64(s->entries));
	json_object_set_new(o, "files", lading_json_u64(s->regular));
	json_object_set_new(o, "directories", lading_json_u64(s->directories));
	json_object_set_new(o, "symlinks", lading_json_u64(s->symlinks));
	json_object_set_new(o, "devices", lading_json_u64(s->devices));
	json_object_set_new(o, "fifos", lading_json_u64(s->fifos));
	json_object_set_new(o, "sockets", lading_json_u64(s->sockets));
	json_object_set_new(o, "hardlinks", lading_json_u64(s->hardlinks));
	json_object_set_new(o, "replaced_entries", lading_json_u64(s->replaced));
	json_object_set_new(o, "inline_files", lading_json_u64(s->inline_files));
	json_object_set_new(o, "file_bytes", lading_json_u64(s->bytes));
	json_object_set_new(o, "chunks", lading_json_u64(st->chunks));
	json_object_set_new(o, "chunks_new", lading_json_u64(st->chunks_stored));
	json_object_set_new(o, "chunks_deduplicated", lading_json_u64(st->chunks_dedup));
	json_object_set_new(o, "chunks_holes", lading_json_u64(st->chunks_hole));
	json_object_set_new(o, "bytes_deduplicated", lading_json_u64(st->bytes_dedup));
	json_object_set_new(o, "bytes_holes", lading_json_u64(st->bytes_hole));
	json_object_set_new(o, "xattrs_skipped", lading_json_u64(s->xattrs_skipped));
	return lading_json_print(stdout, o, false);
}

static void print_summary(const struct lading_build_report *r)
{
	const struct lading_source_stats *s = &r->source;
	const struct lading_store_stats *st = &r->store;

	printf("bootstrap %s (%llu bytes, %llu inodes, sha256 %s)\n",
	       r->bootstrap, (unsigned long long)r->bootstrap_size,
	       (unsigned long long)r->erofs.inodes, r->bootstrap_digest);
	if (r->blob.present)
		printf("blob      %s/%s (%llu bytes, %s, %llu uncompressed)\n",
		       r->blob_dir, r->blob.id, (unsigned long long)r->blob.size,
		       lading_codec_name(r->blob.codec),
		       (unsigned long long)r->blob.uncompressed_size);
	else
		printf("blob      none (no regular file data)\n");
	printf("files %llu, dirs %llu, symlinks %llu, other %llu, hardlinks %llu; "
	       "%llu data bytes, %llu deduplicated, %llu in holes\n",
	       (unsigned long long)s->regular,
	       (unsigned long long)s->directories,
	       (unsigned long long)s->symlinks,
	       (unsigned long long)(s->devices + s->fifos + s->sockets),
	       (unsigned long long)s->hardlinks, (unsigned long long)s->bytes,
	       (unsigned long long)st->bytes_dedup,
	       (unsigned long long)st->bytes_hole);
}

#define usage_error(...) cli_usage_error(PROG, __VA_ARGS__)

int main(int argc, char **argv)
{
	struct lading_log log = { .prog = PROG, .level = LADING_LOG_INFO };
	struct lading_build_params p;
	struct lading_build_report *r;
	struct lading_error err = { 0 };
	struct cli_output out = { .progress = true };
	int c, ret;

	cli_init_locale();
	lading_build_params_init(&p);
	if (cli_build_options_init(PROG, &p.build))
		return EXIT_USAGE;
	while ((c = getopt_long(argc, argv, "b:C:T:U:L:vqhV", long_options,
				NULL)) != -1) {
		switch (c) {
		case 'b':
			p.blob_dir = optarg;
			break;
		case 'U':
			if (parse_uuid(optarg, p.uuid))
				return usage_error("invalid UUID '%s'", optarg);
			p.uuid_set = true;
			break;
		case 'L':
			if (strlen(optarg) > sizeof(p.volume_name))
				return usage_error("label '%s' longer than 16 bytes",
						   optarg);
			memcpy(p.volume_name, optarg, strlen(optarg));
			break;
		case OPT_SOURCE_TYPE:
			if (cli_parse_source_type(PROG, optarg, &p.source_type))
				return EXIT_USAGE;
			break;
		default:
			ret = cli_build_option(c, PROG, optarg, &p.build);
			if (ret == CLI_UNHANDLED)
				ret = cli_common_option(c, PROG, &log, &out, usage);
			if (ret != CLI_CONTINUE)
				return ret;
		}
	}
	if (argc - optind != 2)
		return usage_error("%s", "expected BOOTSTRAP and SOURCE");
	p.bootstrap = argv[optind];
	p.source = argv[optind + 1];
	p.log = &log;
	p.progress = out.progress;

	r = calloc(1, sizeof(*r));
	if (!r) {
		fprintf(stderr, PROG ": out of memory\n");
		return EXIT_FAILED;
	}
	if (lading_build(&p, r, &err)) {
		lading_log_msg(&log, LADING_LOG_ERROR, "%s", err.msg);
		free(r);
		return EXIT_FAILED;
	}
	ret = EXIT_OK;
	if (out.json && print_json(r)) {
		lading_log_msg(&log, LADING_LOG_ERROR, "cannot print the report");
		ret = EXIT_FAILED;
	} else if (!out.json && log.level >= LADING_LOG_INFO) {
		print_summary(r);
	}
	free(r);
	return ret;
}
