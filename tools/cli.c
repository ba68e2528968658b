// SPDX-License-Identifier: MIT
#include <errno.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <lading/build.h>
#include <lading/common.h>
#include "cli.h"

int cli_usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	return 2;
}

int cli_parse_seconds(const char *prog, const char *arg, int64_t *value)
{
	/* far beyond any real date, far from overflowing the arithmetic */
	if (lading_parse_int64(arg, INT64_MIN / 2, INT64_MAX / 2, value)) {
		cli_usage_error(prog, "invalid time '%s' (seconds since the epoch)",
				arg);
		return -1;
	}
	return 0;
}

int cli_source_date_epoch(const char *prog, bool *set, int64_t *value)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");

	if (!sde || !*sde)
		return 0;
	if (cli_parse_seconds(prog, sde, value))
		return -1;
	*set = true;
	return 0;
}

void cli_init_locale(void)
{
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		setlocale(LC_CTYPE, "");
}

int cli_common_option(int c, const char *prog, struct lading_log *log,
		      struct cli_output *out, cli_usage_fn usage)
{
	switch (c) {
	case CLI_OPT_JSON:
		out->json = true;
		return CLI_CONTINUE;
	case CLI_OPT_NO_PROGRESS:
		out->progress = false;
		return CLI_CONTINUE;
	case 'v':
		log->level++;
		return CLI_CONTINUE;
	case 'q':
		log->level = LADING_LOG_ERROR;
		out->progress = false;
		return CLI_CONTINUE;
	case 'h':
		usage(stdout);
		return 0;
	case 'V':
		printf("%s %s\n", prog, LADING_VERSION);
		return 0;
	default:
		fprintf(stderr, "Try '%s --help'.\n", prog);
		return 2;
	}
}

int cli_parse_source_type(const char *prog, const char *arg,
			  enum lading_source_type *type)
{
	if (lading_source_type_parse(arg, type)) {
		cli_usage_error(prog, "unknown source type '%s'", arg);
		return -1;
	}
	return 0;
}

/* 1 .. 2^31: a count of seconds or bytes/s for the registry options */
static int parse_uint(const char *s, unsigned *out)
{
	int64_t v;

	if (lading_parse_int64(s, 1, INT32_MAX, &v))
		return -1;
	*out = (unsigned)v;
	return 0;
}

bool cli_registry_option(int c, const char *arg, struct lading_registry_opts *opts)
{
	/* parsed before the tool's log is set up: the name it was run as */
	const char *prog = program_invocation_short_name;

	switch (c) {
	case CLI_OPT_CREDS:
		opts->creds = arg;
		return true;
	case CLI_OPT_PLAIN_HTTP:
		opts->plain_http = true;
		return true;
	case CLI_OPT_INSECURE:
		opts->insecure = true;
		return true;
	case CLI_OPT_TIMEOUT:
		if (parse_uint(arg, &opts->timeout))
			exit(cli_usage_error(prog, "invalid --registry-timeout '%s' (seconds, "
					     "1 or more)", arg));
		return true;
	case CLI_OPT_MIN_RATE: {
		const char *colon = strchr(arg, ':');
		char rate[32];

		snprintf(rate, sizeof(rate), "%.*s", colon ? (int)(colon - arg) :
			 (int)strlen(arg), arg);
		if (parse_uint(rate, &opts->min_rate) ||
		    (colon && parse_uint(colon + 1, &opts->min_rate_time)))
			exit(cli_usage_error(prog, "invalid --registry-min-rate '%s' "
					     "(BYTES[:SECONDS], 1 or more)", arg));
		return true;
	}
	default:
		return false;
	}
}

void cli_chunk_help(FILE *out)
{
	fprintf(out,
"  -C, --chunk-size SIZE    chunk size, power of two %uK..%uM (default %uM)\n"
"      --compress ALG[:LEVEL]\n"
"                           compress each chunk of the blob: none (default),\n"
"                           lz4, deflate, lzma%s\n"
"      --inline-max BYTES   keep regular files up to BYTES inline in the\n"
"                           bootstrap (default %u, at most %u, 0 disables)\n",
		LADING_CHUNK_MIN >> 10, LADING_CHUNK_MAX >> 20,
		LADING_CHUNK_DEFAULT >> 20,
		lading_codec_available(LADING_CODEC_ZSTD) ? ", zstd" : "",
		LADING_INLINE_DEFAULT, LADING_INLINE_MAX);
}

int cli_build_options_init(const char *prog, struct lading_build_options *o)
{
	lading_build_options_init(o);
	return cli_source_date_epoch(prog, &o->policy.clamp_mtime,
				     &o->policy.mtime);
}

int cli_build_option(int c, const char *prog, const char *arg,
		     struct lading_build_options *o)
{
	uint64_t size;
	int64_t v;

	switch (c) {
	case 'C':
		if (lading_parse_size(arg, &size) || !lading_chunk_size_valid(size))
			return cli_usage_error(prog, "invalid chunk size '%s' "
					       "(power of two, 4K..64M)", arg);
		o->chunk_size = (uint32_t)size;
		return CLI_CONTINUE;
	case CLI_OPT_COMPRESS:
		if (lading_codec_parse(arg, &o->codec, &o->level))
			return cli_usage_error(prog, "unknown or unavailable codec '%s'",
					       arg);
		return CLI_CONTINUE;
	case CLI_OPT_INLINE_MAX:
		if (lading_parse_size(arg, &size) || size > LADING_INLINE_MAX)
			return cli_usage_error(prog, "invalid inline limit '%s'", arg);
		o->inline_max = (uint32_t)size;
		return CLI_CONTINUE;
	case 'T':
		if (cli_parse_seconds(prog, arg, &o->policy.mtime))
			return 2;
		o->policy.clamp_mtime = true;
		return CLI_CONTINUE;
	case CLI_OPT_NSEC:
		o->policy.keep_nsec = true;
		return CLI_CONTINUE;
	case CLI_OPT_ALL_ROOT:
		o->policy.force_uid = o->policy.force_gid = 0;
		return CLI_CONTINUE;
	case CLI_OPT_UID:
	case CLI_OPT_GID:
		if (lading_parse_int64(arg, 0, UINT32_MAX - 1, &v))
			return cli_usage_error(prog, "invalid id '%s'", arg);
		*(c == CLI_OPT_UID ? &o->policy.force_uid : &o->policy.force_gid) = v;
		return CLI_CONTINUE;
	default:
		return CLI_UNHANDLED;
	}
}

void cli_resolution_json(struct json_t *o, const struct lading_resolution *r)
{
	json_t *ids = json_array();
	size_t i;

	for (i = 0; ids && i < r->nblobs; i++)
		json_array_append_new(ids, json_string(r->blob_ids[i]));
	json_object_set_new(o, "reference", lading_json_str_or_null(r->reference));
	if (!r->manifest_digest) {
		json_decref(ids);
		return;
	}
	json_object_set_new(o, "platform", lading_json_str_or_null(r->platform));
	json_object_set_new(o, "manifest_digest", lading_json_str_or_null(r->manifest_digest));
	json_object_set_new(o, "subject_digest", lading_json_str_or_null(r->subject_digest));
	json_object_set_new(o, "found_by", lading_json_str_or_null(r->found_by));
	json_object_set_new(o, "bootstrap_digest", lading_json_str_or_null(r->bootstrap_digest));
	json_object_set_new(o, "bootstrap_size", lading_json_u64(r->bootstrap_size));
	json_object_set_new(o, "bootstrap_transport_size",
			    lading_json_u64(r->bootstrap_transport_size));
	json_object_set_new(o, "bootstrap_compression",
			    lading_json_str_or_null(r->bootstrap_compression));
	json_object_set_new(o, "repository", lading_json_str_or_null(r->repository));
	json_object_set_new(o, "blob_ids", ids);
	json_object_set_new(o, "trace_digest", lading_json_str_or_null(r->trace_digest));
	json_object_set_new(o, "trace_size", lading_json_u64(r->trace_size));
	json_object_set_new(o, "resolution_cached", json_boolean(r->cached));
}

void cli_resolution_log(const struct lading_log *log,
			const struct lading_resolution *r)
{
	if (!r->manifest_digest)
		return;
	lading_log_msg(log, LADING_LOG_INFO, "%s: manifest %s (found by %s%s), "
		       "bootstrap %s, %zu blob%s", r->reference, r->manifest_digest,
		       r->found_by, r->cached ? ", cached" : "", r->bootstrap_digest,
		       r->nblobs, r->nblobs == 1 ? "" : "s");
}
