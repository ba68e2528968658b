// SPDX-License-Identifier: MIT
/* lading-prepare: argument parsing and reporting around lading_prepare(). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "cli.h"
#include <lading/cache.h>

#define PROG "lading-prepare"
#define usage_error(...) cli_usage_error(PROG, __VA_ARGS__)

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

enum {
	OPT_LAYOUT = 256,
	OPT_FSID,
	OPT_DOMAIN_ID,
	OPT_SEED_FROM,
	OPT_SEED,
	OPT_LIST,
};

static const struct option long_options[] = {
	{ "layout", required_argument, NULL, OPT_LAYOUT },
	{ "fsid", required_argument, NULL, OPT_FSID },
	{ "domain-id", required_argument, NULL, OPT_DOMAIN_ID },
	{ "seed-from", required_argument, NULL, OPT_SEED_FROM },
	{ "seed", no_argument, NULL, OPT_SEED },
	{ "list", no_argument, NULL, OPT_LIST },
	CLI_REF_LONG_OPTIONS,
	CLI_REGISTRY_LONG_OPTIONS,
	CLI_COMMON_LONG_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *out)
{
	fputs(
"Usage: " PROG " [OPTIONS] REF CACHEDIR\n"
"       " PROG " --list CACHEDIR [--json]\n"
"Lay out a cache directory for a lading image: one sparse file per blob of\n"
"its exact uncompressed size, optionally seeded with verified data.\n"
"\n"
CLI_REF_HELP
"                           (its bootstrap is fetched, checked and kept in\n"
"                           CACHEDIR, with the resolution)\n"
"      --layout plain       CACHEDIR/<blob-id> and CACHEDIR/<bootstrap-sha256>,\n"
"                           the files a file-backed mount takes (default)\n"
"      --layout cachefiles  the Linux cachefiles tree for EROFS on-demand mode\n"
"      --fsid ID            cachefiles: the fsid= the image is mounted with\n"
"      --domain-id D        cachefiles: the domain_id= it is mounted with\n"
"      --seed-from SOURCE   fill the cache files from blobs in a directory or\n"
"                           a registry (docker://HOST/REPO; byte ranges,\n"
"                           adjacent chunks merged); repeatable; every chunk\n"
"                           is decoded and checked against its sha256\n"
"                           before it is written\n"
"      --seed               seed from REF's repository (after the\n"
"                           --seed-from sources, tried first)\n"
"      --list               list the images and blobs in CACHEDIR: apparent\n"
"                           and allocated sizes, complete or not\n"
CLI_REGISTRY_HELP
"      --json               print a JSON report on stdout\n"
"      --no-progress        no progress line, even on a terminal\n"
"  -v, --verbose            more messages\n"
"  -q, --quiet              errors only\n"
"  -h, --help               this help\n"
"  -V, --version            print the version\n"
"\n"
"Exit status: 0 success, 1 failure (a bootstrap that does not verify, a\n"
"missing or corrupt blob, an I/O error such as a full disk; the cache never\n"
"holds unverified bytes), 2 usage error.\n", out);
}

static json_t *blob_json(const struct lading_prepare_blob *b)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:b}",
			 "id", lading_json_str(b->id),
			 "path", lading_json_str_or_null(b->path),
			 "size", lading_json_u64(b->size),
			 "present_before", lading_json_u64(b->present_before),
			 "fetched", lading_json_u64(b->fetched),
			 "present", lading_json_u64(b->present),
			 "created", (int)b->created);
}

/* The keys are the vocabulary of every lading tool (man/lading-prepare.1). */
static int print_json(const struct lading_prepare_params *p,
		      const struct lading_prepare_report *r, int status)
{
	json_t *o = json_object(), *blobs = json_array();
	uint64_t fetched = 0;
	uint16_t i;

	if (!o || !blobs) {
		json_decref(o);
		json_decref(blobs);
		return -ENOMEM;
	}
	json_object_set_new(o, "status", json_string(status ? "failed" : "ok"));
	cli_resolution_json(o, &r->resolved);
	json_object_set_new(o, "layout", json_string(lading_layout_name(p->layout)));
	json_object_set_new(o, "bootstrap_id", lading_json_str(r->bootstrap_id));
	json_object_set_new(o, "bootstrap_path", lading_json_str_or_null(r->bootstrap_path));
	json_object_set_new(o, "volume_key", lading_json_str_or_null(r->volume_key));
	json_object_set_new(o, "seeded", json_boolean(r->seeded));
	for (i = 0; i < r->nblobs; i++) {
		fetched += r->blobs[i].fetched;
		json_array_append_new(blobs, blob_json(&r->blobs[i]));
	}
	json_object_set_new(o, "bytes_fetched", lading_json_u64(fetched));
	json_object_set_new(o, "blobs", blobs);
	return lading_json_print(stdout, o, false);
}

static void print_human(const struct lading_prepare_report *r)
{
	uint16_t i;

	if (r->bootstrap_path)
		printf("bootstrap %s\n", r->bootstrap_path);
	for (i = 0; i < r->nblobs; i++) {
		const struct lading_prepare_blob *b = &r->blobs[i];

		printf("blob %s: %s, %llu bytes, %llu present (%llu fetched now)\n",
		       b->id, b->path ? b->path : "-", (unsigned long long)b->size,
		       (unsigned long long)b->present,
		       (unsigned long long)b->fetched);
	}
}

/* --list: one entry per image and per blob (shared blobs listed once). */
static int print_list_json(const struct lading_cache_listing *l)
{
	json_t *o = json_object(), *ims = json_array(), *blobs = json_array();
	size_t i, j;

	for (i = 0; i < l->nimages; i++) {
		const struct lading_cache_image_info *im = &l->images[i];
		json_t *refs = json_array(), *ids = json_array();

		for (j = 0; j < im->nrefs; j++)
			json_array_append_new(refs, lading_json_str(im->refs[j]));
		for (j = 0; j < im->nblobs; j++)
			json_array_append_new(ids, lading_json_str(l->blobs[im->blobs[j]].id));
		json_array_append_new(ims, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:b}",
			"bootstrap_id", lading_json_str(im->bootstrap_id),
			"bootstrap_path", lading_json_str_or_null(im->bootstrap_path),
			"size", lading_json_u64(im->size),
			"allocated", lading_json_u64(im->allocated),
			"references", refs, "blob_ids", ids, "complete", (int)im->complete));
	}
	for (i = 0; i < l->nblobs; i++) {
		const struct lading_cache_blob_info *b = &l->blobs[i];
		json_t *bo = json_pack("{s:o, s:o, s:o, s:o, s:b}",
			"id", lading_json_str(b->id),
			"path", lading_json_str_or_null(b->path),
			"size", lading_json_u64(b->size),
			"allocated", lading_json_u64(b->allocated),
			"complete", (int)b->complete);

		if (b->toc_known) {
			json_object_set_new(bo, "chunks", lading_json_u64(b->chunks));
			json_object_set_new(bo, "chunks_present", lading_json_u64(b->chunks_present));
			json_object_set_new(bo, "present", lading_json_u64(b->present));
		}
		json_array_append_new(blobs, bo);
	}
	json_object_set_new(o, "layout", json_string(lading_layout_name(l->layout)));
	json_object_set_new(o, "images", ims);
	json_object_set_new(o, "blobs", blobs);
	return lading_json_print(stdout, o, false);
}

static void print_list_human(const struct lading_cache_listing *l)
{
	size_t i, j;

	for (i = 0; i < l->nimages; i++) {
		const struct lading_cache_image_info *im = &l->images[i];

		printf("image %s: %llu bytes, %llu allocated, %zu blobs, %s\n",
		       im->bootstrap_id, (unsigned long long)im->size,
		       (unsigned long long)im->allocated, im->nblobs,
		       !im->bootstrap_path ? "bootstrap missing" :
		       im->complete ? "complete" : "incomplete");
		for (j = 0; j < im->nrefs; j++) {
			fputs("  ref ", stdout);
			lading_fputs_escaped(stdout, im->refs[j]);
			putchar('\n');
		}
		for (j = 0; j < im->nblobs; j++)
			printf("  blob %s\n", l->blobs[im->blobs[j]].id);
	}
	for (i = 0; i < l->nblobs; i++) {
		const struct lading_cache_blob_info *b = &l->blobs[i];

		printf("blob %s: %llu bytes, %llu allocated, %s", b->id,
		       (unsigned long long)b->size, (unsigned long long)b->allocated,
		       !b->path ? "missing" : b->complete ? "complete" : "incomplete");
		if (b->toc_known)
			printf(" (%llu of %llu chunks)", (unsigned long long)b->chunks_present,
			       (unsigned long long)b->chunks);
		putchar('\n');
	}
}

static int list_cache(const char *dir, const struct cli_output *out,
		      const struct lading_log *log)
{
	struct lading_cache_listing l;
	struct lading_error err = { 0 };
	int ret = lading_cache_list(dir, &l, &err);

	if (ret) {
		lading_log_msg(log, LADING_LOG_ERROR, "%s", lading_error_message(&err, ret));
		return EXIT_FAILED;
	}
	if (out->json)
		ret = print_list_json(&l);
	else
		print_list_human(&l);
	lading_cache_listing_free(&l);
	return ret ? EXIT_FAILED : EXIT_OK;
}

struct prepare_cli {
	struct lading_log log;
	struct lading_prepare_params p;
	struct cli_output out;
	const char **seeds;
	size_t nseeds;
	bool list;
};

/* CLI_CONTINUE when the options parsed, else the exit code. */
static int parse_options(int argc, char **argv, struct prepare_cli *a)
{
	int c, ret;

	while ((c = getopt_long(argc, argv, "vqhV", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_LAYOUT:
			if (lading_layout_parse(optarg, &a->p.layout))
				return usage_error("unknown layout '%s'", optarg);
			break;
		case OPT_FSID:
			a->p.fsid = optarg;
			break;
		case OPT_DOMAIN_ID:
			a->p.domain_id = optarg;
			break;
		case OPT_SEED_FROM:
			a->seeds[a->nseeds++] = optarg;
			break;
		case OPT_SEED:
			a->p.seed = true;
			break;
		case OPT_LIST:
			a->list = true;
			break;
		case CLI_OPT_PLATFORM:
			a->p.platform = optarg;
			break;
		default:
			if (cli_registry_option(c, optarg, &a->p.registry))
				break;
			ret = cli_common_option(c, PROG, &a->log, &a->out, usage);
			if (ret != CLI_CONTINUE)
				return ret;
		}
	}
	return CLI_CONTINUE;
}

static int run_prepare(struct prepare_cli *a)
{
	struct lading_prepare_report r;
	struct lading_error err = { 0 };
	int ret;

	a->p.seed_dirs = a->seeds;
	a->p.nseed_dirs = a->nseeds;
	a->p.log = &a->log;
	a->p.registry.log = &a->log;
	a->p.progress = a->out.progress;
	ret = lading_prepare(&a->p, &r, &err);
	if (a->out.json && print_json(&a->p, &r, ret ? EXIT_FAILED : EXIT_OK) && !ret)
		ret = lading_error_set(&err, EIO, "cannot print the report");
	else if (!a->out.json && a->log.level >= LADING_LOG_INFO)
		print_human(&r);
	if (!a->out.json)
		cli_resolution_log(&a->log, &r.resolved);
	if (ret)
		lading_log_msg(&a->log, LADING_LOG_ERROR, "%s",
			       lading_error_message(&err, ret));
	lading_prepare_report_free(&r);
	return ret ? EXIT_FAILED : EXIT_OK;
}

int main(int argc, char **argv)
{
	struct prepare_cli a = {
		.log = { .prog = PROG, .level = LADING_LOG_INFO },
		.out = { .progress = true },
	};
	int ret;

	cli_init_locale();
	lading_prepare_params_init(&a.p);
	a.seeds = calloc((size_t)argc, sizeof(*a.seeds));
	if (!a.seeds)
		return EXIT_FAILED;
	ret = parse_options(argc, argv, &a);
	if (ret != CLI_CONTINUE)
		goto out;
	if (a.list) {
		ret = argc - optind != 1 ? usage_error("--list takes one CACHEDIR") :
		      list_cache(argv[optind], &a.out, &a.log);
		goto out;
	}
	ret = argc - optind != 2 ?
		usage_error("expected REF and CACHEDIR") :
	      a.p.layout == LADING_LAYOUT_CACHEFILES && !a.p.fsid ?
		usage_error("--layout cachefiles needs --fsid") :
	      a.p.layout == LADING_LAYOUT_PLAIN && (a.p.fsid || a.p.domain_id) ?
		usage_error("--fsid and --domain-id belong to --layout cachefiles") : 0;
	if (ret)
		goto out;
	a.p.bootstrap = argv[optind];
	a.p.cache_dir = argv[optind + 1];
	ret = run_prepare(&a);
out:
	free(a.seeds);
	return ret;
}
