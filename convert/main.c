// SPDX-License-Identifier: MIT
/* lading-convert: argument parsing and reporting around lading_convert(). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "cli.h"
#include <lading/convert.h>

#define PROG "lading-convert"
#define usage_error(...) cli_usage_error(PROG, __VA_ARGS__)

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

enum {
	OPT_LAYER = 256,
	OPT_PLATFORM,
	OPT_CHUNK_DICT,
	OPT_LAYER_BOOTSTRAPS,
	OPT_MOUNT_FROM,
	OPT_ATTACH,
	OPT_MERGE_INDEX,
	OPT_KEEP_LAYERS,
	OPT_SPAN_SIZE,
	OPT_PREFETCH_LIST,
	OPT_BOOTSTRAP_COMPRESSION,
};

static const struct option long_options[] = {
	{ "layer", required_argument, NULL, OPT_LAYER },
	{ "platform", required_argument, NULL, OPT_PLATFORM },
	{ "chunk-dict", required_argument, NULL, OPT_CHUNK_DICT },
	{ "layer-bootstraps", required_argument, NULL, OPT_LAYER_BOOTSTRAPS },
	CLI_REGISTRY_LONG_OPTIONS,
	{ "mount-from", required_argument, NULL, OPT_MOUNT_FROM },
	{ "attach", required_argument, NULL, OPT_ATTACH },
	{ "merge-index", required_argument, NULL, OPT_MERGE_INDEX },
	{ "keep-layers", no_argument, NULL, OPT_KEEP_LAYERS },
	{ "span-size", required_argument, NULL, OPT_SPAN_SIZE },
	{ "prefetch-list", required_argument, NULL, OPT_PREFETCH_LIST },
	{ "bootstrap-compression", required_argument, NULL, OPT_BOOTSTRAP_COMPRESSION },
	CLI_CHUNK_LONG_OPTIONS,
	CLI_MTIME_LONG_OPTION,
	CLI_COMMON_LONG_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *out)
{
	fputs(
"Usage: " PROG " [OPTIONS] SRC DST\n"
"       " PROG " [OPTIONS] --attach SRC [--merge-index DST]\n"
"       " PROG " [OPTIONS] --merge-index DST SRC\n"
"Convert a container image into a lazily loadable lading image.\n"
"\n"
"SRC: oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:NAME:TAG],\n"
"     docker://HOST/REPO[:TAG|@DIGEST] (a registry),\n"
"     dir:DIR with --layer FILE for each layer tarball, lowest first\n"
"DST: oci:DIR[:REF] (an OCI image layout; REF defaults to latest),\n"
"     docker://HOST/REPO[:TAG] (push to a registry), or\n"
"     dir:DIR (bootstrap and blobs as files named by their sha256)\n"
"\n"
"      --layer FILE         a layer tarball of a dir: source (repeatable)\n"
"      --platform OS/ARCH[/VARIANT]\n"
"                           the image to pick from an index (default: host)\n"
"      --chunk-dict BOOTSTRAP\n"
"                           reuse chunks of an earlier converted image (its\n"
"                           blobs beside it); repeatable\n"
"      --layer-bootstraps DIR\n"
"                           also write one bootstrap per layer into DIR, for\n"
"                           lading-verify --layer --source LAYER (reads each\n"
"                           layer a second time)\n"
"      --keep-layers        keep gzip layers as they are (referenced by\n"
"                           digest, never copied): the image adds a seek\n"
"                           index per layer and a bootstrap of 512-byte\n"
"                           blocks; other layers become lading blobs\n"
"      --span-size SIZE     --keep-layers: span of the seek index, a power\n"
"                           of two in [64K, 64M] (default 2M)\n"
CLI_REGISTRY_HELP
"      --attach SRC         SRC is docker://HOST/REPO[:TAG|@DIGEST]: push the\n"
"                           lading manifest of each platform (or --platform)\n"
"                           into SRC's repository as an OCI referrer of its\n"
"                           manifest (referrers API, else the sha256-<hex>\n"
"                           tag); SRC's tags are not touched\n"
"      --merge-index DST    write an index of the original manifests and the\n"
"                           lading ones under DST (docker://HOST/REPO:TAG in\n"
"                           SRC's repository, or oci:DIR:TAG in SRC's layout)\n"
"      --prefetch-list TRACE\n"
"                           publish this access trace (lading-fill --record)\n"
"                           with the image: a node mounting it fetches the\n"
"                           traced chunks first (entries naming blobs of\n"
"                           other images are dropped)\n"
"      --bootstrap-compression zstd|none\n"
"                           the bootstrap layer in transport (default: zstd\n"
"                           for registries, none for oci: and dir:)\n"
"      --mount-from REPO    push: mount blobs REPO on the same registry has\n"
"                           instead of uploading them\n", out);
	cli_chunk_help(out);
	fputs(
"  -T, --mtime SECONDS      clamp mtimes (default $SOURCE_DATE_EPOCH)\n"
"      --json               print a JSON report on stdout\n"
"      --no-progress        no progress line, even on a terminal\n"
"  -v, --verbose / -q, --quiet\n"
"  -h, --help / -V, --version\n"
"\n"
"Exit status: 0 success, 1 the conversion failed (a missing blob, a digest\n"
"mismatch, malformed JSON, an unknown media type, a corrupt layer; DST is\n"
"left as it was), 2 usage error.\n", out);
}

static json_t *layer_json(const struct lading_convert_layer *l)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o}",
			 "source_digest", lading_json_str_or_null(l->source_digest),
			 "source_size", lading_json_u64(l->bytes_in),
			 "blob_id", lading_json_str_or_null(l->blob_id),
			 "blob_size", lading_json_u64(l->bytes_out),
			 "blob_uncompressed_size", lading_json_u64(l->uncompressed),
			 "chunks_new", lading_json_u64(l->chunks_new),
			 "chunks_deduplicated", lading_json_u64(l->chunks_dedup),
			 "bytes_deduplicated", lading_json_u64(l->bytes_dedup),
			 "entries", lading_json_u64(l->entries),
			 "whiteouts", lading_json_u64(l->whiteouts),
			 "layer_bootstrap", lading_json_str_or_null(l->layer_bootstrap),
			 "kept", l->kept,
			 "seek_index", lading_json_str_or_null(l->seek_index));
}

static json_t *attached_json(const struct lading_convert_attached *a)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o}",
			 "platform", lading_json_str(a->platform),
			 "source_manifest", lading_json_str(a->source_manifest),
			 "manifest", lading_json_str(a->manifest),
			 "bootstrap_digest", lading_json_str(a->bootstrap_digest),
			 "referrer", lading_json_str_or_null(a->referrer));
}

/* --attach / --merge-index: what was published where */
static void add_published(json_t *o, const struct lading_convert_report *r)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < r->nattached; i++)
		json_array_append_new(a, attached_json(&r->attached[i]));
	json_object_set_new(o, "attached", a);
	json_object_set_new(o, "merged_index", r->merged_index[0] ?
			    lading_json_str(r->merged_index) : json_null());
}

/* The keys are the vocabulary of every lading tool (man/lading-convert.1). */
static int print_json(const struct lading_convert_report *r, bool publishing)
{
	json_t *o = json_object(), *layers = json_array(), *blobs = json_array();
	size_t i;

	if (!o || !layers || !blobs) {
		json_decref(o);
		json_decref(layers);
		json_decref(blobs);
		return -ENOMEM;
	}
	json_object_set_new(o, "bootstrap_digest", lading_json_str(r->bootstrap_digest));
	json_object_set_new(o, "bootstrap_size", lading_json_u64(r->bootstrap_size));
	json_object_set_new(o, "bootstrap_layer_digest", r->bootstrap_layer_digest[0] ?
			    lading_json_str(r->bootstrap_layer_digest) : json_null());
	json_object_set_new(o, "bootstrap_layer_size", lading_json_u64(
			    r->bootstrap_layer_size ? r->bootstrap_layer_size :
			    r->bootstrap_size));
	json_object_set_new(o, "manifest", lading_json_str_or_null(r->manifest_digest));
	json_object_set_new(o, "config", lading_json_str_or_null(r->config_digest));
	for (i = 0; i < r->nlayers; i++)
		json_array_append_new(layers, layer_json(&r->layers[i]));
	json_object_set_new(o, "layers", layers);
	for (i = 0; i < r->nblobs; i++)
		json_array_append_new(blobs, lading_json_str(r->blobs[i]));
	json_object_set_new(o, "blob_ids", blobs);
	json_object_set_new(o, "chunk_dict_blobs_used", lading_json_u64(r->dict_blobs_used));
	json_object_set_new(o, "bytes_saved", lading_json_u64(r->bytes_saved));
	json_object_set_new(o, "inodes", lading_json_u64(r->inodes));
	json_object_set_new(o, "trace_digest", r->trace_digest[0] ?
			    lading_json_str(r->trace_digest) : json_null());
	json_object_set_new(o, "trace_entries", lading_json_u64(r->trace_entries));
	json_object_set_new(o, "trace_dropped", lading_json_u64(r->trace_dropped));
	if (publishing)
		add_published(o, r);
	/* milliseconds are all a wall clock says here */
	json_object_set_new(o, "elapsed_seconds",
			    json_real((double)(long long)(r->elapsed * 1000 + 0.5) / 1000));
	return lading_json_print(stdout, o, false);
}

static void print_human(const struct lading_convert_report *r)
{
	size_t i;

	for (i = 0; i < r->nlayers; i++) {
		const struct lading_convert_layer *l = &r->layers[i];

		if (l->kept) {
			printf("layer %zu %s: kept as is (%llu bytes), seek index %s "
			       "(%llu bytes)\n", i + 1,
			       l->source_digest ? l->source_digest : "",
			       (unsigned long long)l->bytes_in, l->seek_index,
			       (unsigned long long)l->bytes_out);
			continue;
		}
		printf("layer %zu %s: %llu bytes in, %s%s (%llu bytes), "
		       "%llu new chunks, %llu deduplicated\n", i + 1,
		       l->source_digest ? l->source_digest : "",
		       (unsigned long long)l->bytes_in,
		       l->blob_id[0] ? "blob " : "no new data",
		       l->blob_id[0] ? l->blob_id : "",
		       (unsigned long long)l->bytes_out,
		       (unsigned long long)l->chunks_new,
		       (unsigned long long)l->chunks_dedup);
	}
	printf("bootstrap %s (%llu bytes, %llu inodes), %zu blobs, %llu bytes saved "
	       "by dedup", r->bootstrap_digest,
	       (unsigned long long)r->bootstrap_size,
	       (unsigned long long)r->inodes, r->nblobs,
	       (unsigned long long)r->bytes_saved);
	if (r->manifest_digest[0])
		printf(", manifest %s", r->manifest_digest);
	printf("\n");
	if (r->trace_digest[0])
		printf("trace %s (%zu entries, %zu dropped)\n", r->trace_digest,
		       r->trace_entries, r->trace_dropped);
	for (i = 0; i < r->nattached; i++)
		printf("%s: %s -> %s (%s)\n", r->attached[i].platform,
		       r->attached[i].source_manifest, r->attached[i].manifest,
		       r->attached[i].referrer ? r->attached[i].referrer :
		       "no referrer recorded");
	if (r->merged_index[0])
		printf("merged index %s\n", r->merged_index);
}

struct convert_cli {
	struct lading_log log;
	struct lading_convert_params p;
	struct cli_output out;
	const char **layers, **dicts;
	size_t nlayers, ndicts;
	bool inline_set;
};

/* --span-size: a power of two in [64K, 64M]; 0 or the exit status. */
static int parse_span_size(const char *arg, uint32_t *out)
{
	uint64_t v;

	if (lading_parse_size(arg, &v) || v > UINT32_MAX || !v || (v & (v - 1)) ||
	    v < (64u << 10) || v > (64u << 20))
		return usage_error("--span-size %s: a power of two in [64K, 64M]", arg);
	*out = (uint32_t)v;
	return 0;
}

/* CLI_CONTINUE when the options parsed, else the exit status. */
static int parse_options(int argc, char **argv, struct convert_cli *a)
{
	struct lading_convert_params *p = &a->p;
	int c, ret;

	while ((c = getopt_long(argc, argv, "C:T:vqhV", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_LAYER:
			a->layers[a->nlayers++] = optarg;
			break;
		case OPT_PLATFORM:
			p->platform = optarg;
			break;
		case OPT_MOUNT_FROM:
			p->registry.mount_from = optarg;
			break;
		case OPT_LAYER_BOOTSTRAPS:
			p->layer_bootstraps = optarg;
			break;
		case OPT_ATTACH:
			p->attach = true;
			p->src = optarg;
			break;
		case OPT_MERGE_INDEX:
			p->merge_index = optarg;
			break;
		case OPT_PREFETCH_LIST:
			p->trace = optarg;
			break;
		case OPT_BOOTSTRAP_COMPRESSION:
			p->bootstrap_compression = optarg;
			break;
		case OPT_CHUNK_DICT:
			a->dicts[a->ndicts++] = optarg;
			break;
		case OPT_KEEP_LAYERS:
			p->keep_layers = true;
			break;
		case OPT_SPAN_SIZE:
			ret = parse_span_size(optarg, &p->span_size);
			if (ret)
				return ret;
			break;
		default:
			if (cli_registry_option(c, optarg, &p->registry))
				break;
			if (c == CLI_OPT_INLINE_MAX)
				a->inline_set = true;
			ret = cli_build_option(c, PROG, optarg, &p->build);
			if (ret == CLI_UNHANDLED)
				ret = cli_common_option(c, PROG, &a->log, &a->out, usage);
			if (ret != CLI_CONTINUE)
				return ret;
		}
	}
	return CLI_CONTINUE;
}

/* SRC and DST as the options want them: 0 or the exit status. */
static int take_operands(int argc, char **argv, struct convert_cli *a)
{
	struct lading_convert_params *p = &a->p;

	if (p->attach && argc != optind)
		return usage_error("--attach SRC takes no other SRC nor DST");
	if (!p->attach && p->merge_index && argc - optind != 1)
		return usage_error("--merge-index DST takes one SRC and no DST");
	if (!p->attach && !p->merge_index && argc - optind != 2)
		return usage_error("expected SRC and DST");
	if (!p->attach)
		p->src = argv[optind];
	if (!p->attach && !p->merge_index)
		p->dst = argv[optind + 1];
	return 0;
}

static int run_convert(struct convert_cli *a)
{
	struct lading_convert_params *p = &a->p;
	struct lading_convert_report r;
	struct lading_error err = { 0 };
	int ret;

	/*
	 * kept layers hold every file already: inline data would be the
	 * second copy the option avoids (27 MB of 47 on bench's rootfs)
	 */
	if (p->keep_layers && !a->inline_set)
		p->build.inline_max = 0;
	p->layer_files = a->layers;
	p->nlayer_files = a->nlayers;
	p->chunk_dicts = a->dicts;
	p->nchunk_dicts = a->ndicts;
	p->log = &a->log;
	p->registry.log = &a->log;
	p->progress = a->out.progress;
	ret = lading_convert(p, &r, &err);
	if (ret) {
		lading_log_msg(&a->log, LADING_LOG_ERROR, "%s",
			       lading_error_message(&err, ret));
	} else if (a->out.json) {
		if (print_json(&r, p->attach || p->merge_index)) {
			lading_log_msg(&a->log, LADING_LOG_ERROR, "cannot print the report");
			ret = -EIO;
		}
	} else if (a->log.level >= LADING_LOG_INFO) {
		print_human(&r);
	}
	lading_convert_report_free(&r);
	return ret ? EXIT_FAILED : EXIT_OK;
}

int main(int argc, char **argv)
{
	struct convert_cli a = {
		.log = { .prog = PROG, .level = LADING_LOG_INFO },
		.out = { .progress = true },
	};
	int ret;

	cli_init_locale();
	lading_convert_params_init(&a.p);
	if (cli_build_options_init(PROG, &a.p.build))
		return EXIT_USAGE;
	a.p.build.inline_max = LADING_CONVERT_INLINE_DEFAULT;	/* --inline-max overrides */
	a.layers = calloc((size_t)argc, sizeof(*a.layers));
	a.dicts = calloc((size_t)argc, sizeof(*a.dicts));
	if (!a.layers || !a.dicts) {
		ret = EXIT_FAILED;
		goto out;
	}
	ret = parse_options(argc, argv, &a);
	if (ret != CLI_CONTINUE)
		goto out;
	ret = take_operands(argc, argv, &a);
	if (!ret)
		ret = run_convert(&a);
out:
	free(a.layers);
	free(a.dicts);
	return ret;
}
