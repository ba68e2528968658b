// SPDX-License-Identifier: MIT
/* lading-fill: argument parsing, signals and reporting around the filler. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include <lading/fill.h>

#define PROG "lading-fill"
#define usage_error(...) cli_usage_error(PROG, __VA_ARGS__)

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

enum {
	OPT_SOURCE = 256,
	OPT_CACHE,
	OPT_BACKEND,
	OPT_JSON,
};

static const struct option long_options[] = {
	{ "source", required_argument, NULL, OPT_SOURCE },
	{ "cache", required_argument, NULL, OPT_CACHE },
	{ "backend", required_argument, NULL, OPT_BACKEND },
	{ "json", no_argument, NULL, OPT_JSON },
	CLI_REGISTRY_LONG_OPTIONS,
	CLI_COMMON_LONG_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *out)
{
	fputs(
"Usage: " PROG " mount [OPTIONS] BOOTSTRAP MOUNTPOINT --source SRC --cache DIR\n"
"Mount a lading image before its data is local: reads wait while the filler\n"
"fetches, verifies and writes the chunks they need.\n"
"\n"
"      --source SRC         a blob directory or docker://HOST/REPO\n"
"                           (repeatable, searched in order)\n"
"      --cache DIR          the plain cache directory (made if missing;\n"
"                           pre-seeded data is used, never fetched again)\n"
"      --backend fanotify|auto\n"
"                           fanotify pre-content events on a file-backed\n"
"                           mount (Linux 6.14+); auto checks the kernel\n"
CLI_REGISTRY_HELP
"      --json               print the statistics as JSON at exit\n"
"  -v, --verbose / -q, --quiet / -h, --help / -V, --version\n"
"\n"
"Runs in the foreground until SIGINT or SIGTERM, then unmounts.\n"
"Exit status: 0 clean exit, 1 failure (mount, source, kernel support),\n"
"2 usage error.\n", out);
}

static void print_stats(const struct lading_fill_stats *s, bool json)
{
	if (json) {
		printf("{\"requests\": %llu, \"hits\": %llu, \"chunks_fetched\": %llu, "
		       "\"bytes_fetched\": %llu, \"verify_failures\": %llu, "
		       "\"denied\": %llu, \"blobs_completed\": %llu, "
		       "\"latency_p50_us\": %llu, \"latency_p99_us\": %llu}\n",
		       (unsigned long long)s->requests, (unsigned long long)s->hits,
		       (unsigned long long)s->chunks_fetched,
		       (unsigned long long)s->bytes_fetched,
		       (unsigned long long)s->verify_failures,
		       (unsigned long long)s->denied,
		       (unsigned long long)s->blobs_completed,
		       (unsigned long long)s->latency_p50_us,
		       (unsigned long long)s->latency_p99_us);
		return;
	}
	printf("%llu requests (%llu from the cache), %llu chunks / %llu bytes "
	       "fetched, %llu verification failures, %llu denied; latency p50 "
	       "%llu us, p99 %llu us\n", (unsigned long long)s->requests,
	       (unsigned long long)s->hits, (unsigned long long)s->chunks_fetched,
	       (unsigned long long)s->bytes_fetched,
	       (unsigned long long)s->verify_failures,
	       (unsigned long long)s->denied,
	       (unsigned long long)s->latency_p50_us,
	       (unsigned long long)s->latency_p99_us);
}

int main(int argc, char **argv)
{
	struct lading_log log = { .prog = PROG, .level = LADING_LOG_INFO };
	struct lading_fill_params p = { .stop = &stop_requested };
	struct lading_fill_stats st;
	struct lading_error err = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	const char **sources;
	bool json = false, progress = false;
	char why[256];
	size_t nsources = 0;
	int c, ret = 0;

	cli_init_locale();
	sources = calloc((size_t)argc, sizeof(*sources));
	if (!sources)
		return EXIT_FAILED;
	while ((c = getopt_long(argc, argv, "vqhV", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_SOURCE:
			sources[nsources++] = optarg;
			break;
		case OPT_CACHE:
			p.cache_dir = optarg;
			break;
		case OPT_BACKEND:
			if (strcmp(optarg, "fanotify") && strcmp(optarg, "auto")) {
				ret = usage_error("unknown back end '%s' (fanotify, auto)",
						  optarg);
				goto out;
			}
			break;
		case OPT_JSON:
			json = true;
			break;
		default:
			if (cli_registry_option(c, optarg, &p.registry))
				break;
			ret = cli_common_option(c, PROG, &log, &progress, usage);
			if (ret != CLI_CONTINUE)
				goto out;
		}
	}
	if (argc - optind != 3 || strcmp(argv[optind], "mount") || !p.cache_dir ||
	    !nsources) {
		ret = usage_error("expected: mount BOOTSTRAP MOUNTPOINT --source SRC "
				  "--cache DIR");
		goto out;
	}
	if (!lading_fill_fanotify_supported(why, sizeof(why))) {
		lading_log_msg(&log, LADING_LOG_ERROR, "fanotify back end unavailable: %s",
			       why);
		ret = EXIT_FAILED;
		goto out;
	}
	lading_log_msg(&log, LADING_LOG_DEBUG, "back end: fanotify pre-content "
		       "events (supported by this kernel)");
	p.bootstrap = argv[optind + 1];
	p.mountpoint = argv[optind + 2];
	p.sources = sources;
	p.nsources = nsources;
	p.log = &log;
	p.registry.log = &log;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	ret = lading_fill_mount(&p, &st, &err);
	if (ret)
		lading_log_msg(&log, LADING_LOG_ERROR, "%s", err.msg[0] ? err.msg :
			       strerror(-ret));
	else if (json || log.level >= LADING_LOG_INFO)
		print_stats(&st, json);
	ret = ret ? EXIT_FAILED : EXIT_OK;
out:
	free(sources);
	return ret;
}
