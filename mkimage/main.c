// SPDX-License-Identifier: MIT
/* lading-mkimage: argument parsing and reporting around lading_build(). */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include <lading/build.h>

#define PROG "lading-mkimage"

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,
	EXIT_USAGE = 2,
};

enum {
	OPT_JSON = 256,
	OPT_SOURCE_TYPE,
	OPT_NO_PROGRESS,
};

static const struct option long_options[] = {
	{ "blob-dir", required_argument, NULL, 'b' },
	CLI_CHUNK_LONG_OPTIONS,
	CLI_MTIME_LONG_OPTION,
	CLI_POLICY_LONG_OPTIONS,
	{ "uuid", required_argument, NULL, 'U' },
	{ "label", required_argument, NULL, 'L' },
	{ "source-type", required_argument, NULL, OPT_SOURCE_TYPE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
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

static void print_json(const struct lading_build_report *r)
{
	const struct lading_source_stats *s = &r->source;
	const struct lading_store_stats *st = &r->store;
	char uuid[33];

	lading_hex_encode(uuid, r->image.uuid, 16);
	printf("{\n  \"bootstrap\": ");
	lading_json_string(stdout, r->bootstrap);
	printf(",\n  \"bootstrap_sha256\": \"%s\",\n", r->bootstrap_digest);
	printf("  \"bootstrap_size\": %llu,\n",
	       (unsigned long long)r->bootstrap_size);
	printf("  \"blob_dir\": ");
	lading_json_string(stdout, r->blob_dir);
	if (r->blob.present)
		printf(",\n  \"blob_id\": \"%s\",\n", r->blob.id);
	else
		printf(",\n  \"blob_id\": null,\n");
	printf("  \"blob_size\": %llu,\n", (unsigned long long)r->blob.size);
	printf("  \"blob_uncompressed_size\": %llu,\n",
	       (unsigned long long)r->blob.uncompressed_size);
	printf("  \"codec\": \"%s\",\n", lading_codec_name(r->blob.codec));
	if (r->blob.present) {
		char toc[LADING_DIGEST_HEX_LEN + 1];

		lading_hex_encode(toc, r->blob.toc_digest, LADING_SHA256_LEN);
		printf("  \"toc_sha256\": \"%s\",\n", toc);
	}
	printf("  \"uuid\": \"%s\",\n", uuid);
	printf("  \"inodes\": %llu,\n  \"compact_inodes\": %llu,\n"
	       "  \"extended_inodes\": %llu,\n",
	       (unsigned long long)r->image.inodes,
	       (unsigned long long)r->image.compact_inodes,
	       (unsigned long long)r->image.extended_inodes);
	printf("  \"entries\": %llu,\n  \"files\": %llu,\n  \"directories\": %llu,\n"
	       "  \"symlinks\": %llu,\n  \"devices\": %llu,\n  \"fifos\": %llu,\n"
	       "  \"sockets\": %llu,\n  \"hardlinks\": %llu,\n"
	       "  \"replaced_entries\": %llu,\n  \"inline_files\": %llu,\n",
	       (unsigned long long)s->entries, (unsigned long long)s->regular,
	       (unsigned long long)s->directories,
	       (unsigned long long)s->symlinks, (unsigned long long)s->devices,
	       (unsigned long long)s->fifos, (unsigned long long)s->sockets,
	       (unsigned long long)s->hardlinks, (unsigned long long)s->replaced,
	       (unsigned long long)s->inline_files);
	printf("  \"file_bytes\": %llu,\n  \"chunks\": %llu,\n"
	       "  \"chunks_stored\": %llu,\n  \"chunks_deduplicated\": %llu,\n"
	       "  \"chunks_holes\": %llu,\n  \"bytes_deduplicated\": %llu,\n"
	       "  \"bytes_holes\": %llu,\n  \"xattrs_skipped\": %llu\n}\n",
	       (unsigned long long)s->bytes, (unsigned long long)st->chunks,
	       (unsigned long long)st->chunks_stored,
	       (unsigned long long)st->chunks_dedup,
	       (unsigned long long)st->chunks_hole,
	       (unsigned long long)st->bytes_dedup,
	       (unsigned long long)st->bytes_hole,
	       (unsigned long long)s->xattrs_skipped);
}

static void print_summary(const struct lading_build_report *r)
{
	const struct lading_source_stats *s = &r->source;
	const struct lading_store_stats *st = &r->store;

	printf("bootstrap %s (%llu bytes, %llu inodes, sha256 %s)\n",
	       r->bootstrap, (unsigned long long)r->bootstrap_size,
	       (unsigned long long)r->image.inodes, r->bootstrap_digest);
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
	bool json = false, progress = true;
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
		case OPT_JSON:
			json = true;
			break;
		case OPT_NO_PROGRESS:
			progress = false;
			break;
		default:
			ret = cli_build_option(c, PROG, optarg, &p.build);
			if (ret == CLI_UNHANDLED)
				ret = cli_common_option(c, PROG, &log, &progress,
							usage);
			if (ret != CLI_CONTINUE)
				return ret;
		}
	}
	if (argc - optind != 2)
		return usage_error("%s", "expected BOOTSTRAP and SOURCE");
	p.bootstrap = argv[optind];
	p.source = argv[optind + 1];
	p.log = &log;
	p.progress = progress;

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
	if (json)
		print_json(r);
	else if (log.level >= LADING_LOG_INFO)
		print_summary(r);
	free(r);
	return EXIT_OK;
}
