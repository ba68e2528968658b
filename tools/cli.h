/* SPDX-License-Identifier: MIT */
/* Argument-parsing helpers shared by the lading-* commands. */
#ifndef LADING_TOOLS_CLI_H
#define LADING_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <lading/build.h>
#include <lading/common.h>
#include <lading/types.h>
#include <lading/cache.h>

/*
 * Tar member names are bytes; libarchive converts PAX (UTF-8) names to the
 * locale's charset and warns when it cannot.  Tools therefore run with a
 * UTF-8 LC_CTYPE, so names pass through unchanged.
 */
void cli_init_locale(void);

/* Prints "PROG: message" and a --help hint on stderr; returns 2. */
int cli_usage_error(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Reads SOURCE_DATE_EPOCH: 0 (sets *set and *value when present) or -1
 * after printing a usage error.
 */
int cli_source_date_epoch(const char *prog, bool *set, int64_t *value);

/* Parses "--mtime"-style seconds; 0 or -1 after a usage error. */
int cli_parse_seconds(const char *prog, const char *arg, int64_t *value);

/* The report options every tool has (handled by cli_common_option). */
enum {
	CLI_OPT_JSON = 1100,
	CLI_OPT_NO_PROGRESS,
};

/* Long options every tool has (handled by cli_common_option). */
#define CLI_COMMON_LONG_OPTIONS \
	{ "json", no_argument, NULL, CLI_OPT_JSON }, \
	{ "no-progress", no_argument, NULL, CLI_OPT_NO_PROGRESS }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "quiet", no_argument, NULL, 'q' }, \
	{ "help", no_argument, NULL, 'h' }, \
	{ "version", no_argument, NULL, 'V' }

/* Registry access options (handled by cli_registry_option). */
enum {
	CLI_OPT_CREDS = 1000,
	CLI_OPT_PLAIN_HTTP,
	CLI_OPT_INSECURE,
	CLI_OPT_TIMEOUT,
	CLI_OPT_MIN_RATE,
};

#define CLI_REGISTRY_LONG_OPTIONS \
	{ "creds", required_argument, NULL, CLI_OPT_CREDS }, \
	{ "plain-http", no_argument, NULL, CLI_OPT_PLAIN_HTTP }, \
	{ "insecure", no_argument, NULL, CLI_OPT_INSECURE }, \
	{ "registry-timeout", required_argument, NULL, CLI_OPT_TIMEOUT }, \
	{ "registry-min-rate", required_argument, NULL, CLI_OPT_MIN_RATE }

#define CLI_REGISTRY_HELP \
"      --creds USER:PASS    registry credentials (default: $DOCKER_CONFIG/\n" \
"                           config.json or ~/.docker/config.json, else none)\n" \
"      --plain-http         http:// to the registry (loopback tests)\n" \
"      --insecure           https without certificate verification\n" \
"      --registry-timeout SECONDS\n" \
"                           every registry read (a document, a range, a whole\n" \
"                           layer) ends within SECONDS (default 3600)\n" \
"      --registry-min-rate BYTES[:SECONDS]\n" \
"                           a registry transfer slower than BYTES/s for\n" \
"                           SECONDS is abandoned (default 1024:30)\n"

/* Image references: lading-fill, lading-prepare and lading-verify. */
enum { CLI_OPT_PLATFORM = 1010 };

#define CLI_REF_LONG_OPTIONS \
	{ "platform", required_argument, NULL, CLI_OPT_PLATFORM }

#define CLI_REF_HELP \
"REF is a bootstrap path, docker://HOST/REPO[:TAG|@DIGEST] or oci:DIR[:REF]\n" \
"(a lading image, or an ordinary image whose lading form is attached)\n" \
"      --platform OS/ARCH[/VARIANT]\n" \
"                           the image of a multi-platform REF (default: the\n" \
"                           host's)\n"

/*
 * Adds what REF resolved to (reference, manifest_digest, bootstrap_digest,
 * blob_ids, found_by, ...) to a JSON report; nothing for a bootstrap path
 * but the reference.
 */
struct json_t;
void cli_resolution_json(struct json_t *o, const struct lading_resolution *r);
/* One line on stderr (INFO): what REF resolved to. */
void cli_resolution_log(const struct lading_log *log,
			const struct lading_resolution *r);

/*
 * true when c was a registry option (stored in opts); an invalid value
 * of one exits with status 2 after a usage error.
 */
bool cli_registry_option(int c, const char *arg, struct lading_registry_opts *opts);

/*
 * Build options, shared by lading-mkimage, lading-convert and
 * lading-verify --source (handled by cli_build_option).  A tool lists the
 * groups it has, and 'C' and 'T' in its short options.
 */
enum {
	CLI_OPT_COMPRESS = 1200,	/* apart from the report options (1100) */
	CLI_OPT_INLINE_MAX,
	CLI_OPT_NSEC,
	CLI_OPT_ALL_ROOT,
	CLI_OPT_UID,
	CLI_OPT_GID,
};

/* how chunks are stored: -C, --compress, --inline-max */
#define CLI_CHUNK_LONG_OPTIONS \
	{ "chunk-size", required_argument, NULL, 'C' }, \
	{ "compress", required_argument, NULL, CLI_OPT_COMPRESS }, \
	{ "inline-max", required_argument, NULL, CLI_OPT_INLINE_MAX }

/* the mtime clamp: -T */
#define CLI_MTIME_LONG_OPTION \
	{ "mtime", required_argument, NULL, 'T' }

/* the rest of the tree policy: --nsec, --all-root, --uid, --gid */
#define CLI_POLICY_LONG_OPTIONS \
	{ "nsec", no_argument, NULL, CLI_OPT_NSEC }, \
	{ "all-root", no_argument, NULL, CLI_OPT_ALL_ROOT }, \
	{ "uid", required_argument, NULL, CLI_OPT_UID }, \
	{ "gid", required_argument, NULL, CLI_OPT_GID }

#define CLI_UNHANDLED (-2)

/* Help lines for CLI_CHUNK_LONG_OPTIONS, with the library's defaults. */
void cli_chunk_help(FILE *out);

/*
 * Starts o from the library's defaults and $SOURCE_DATE_EPOCH: 0, or -1
 * after a usage error.
 */
int cli_build_options_init(const char *prog, struct lading_build_options *o);

/*
 * Stores build option c into o: CLI_CONTINUE when it was one,
 * CLI_UNHANDLED when c is not a build option, else the exit status (2)
 * after a usage error.
 */
int cli_build_option(int c, const char *prog, const char *arg,
		     struct lading_build_options *o);

/* A tool's own usage text. */
typedef void (*cli_usage_fn)(FILE *out);

#define CLI_CONTINUE (-1)

/* What the shared options ask of a tool's output. */
struct cli_output {
	bool json;		/* --json: the report as JSON on stdout */
	bool progress;		/* a progress line (cleared by --no-progress, -q) */
};

/*
 * The options every tool shares: --json, --no-progress, -v (more
 * messages), -q (errors only, no progress), -h, -V, and unknown options.
 * Returns CLI_CONTINUE to go on parsing, else the exit status main()
 * should return.
 */
int cli_common_option(int c, const char *prog, struct lading_log *log,
		      struct cli_output *out, cli_usage_fn usage);

/* "auto", "dir" or "tar"; 0, or -1 after a usage error. */
int cli_parse_source_type(const char *prog, const char *arg,
			  enum lading_source_type *type);

#endif
