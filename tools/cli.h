/* SPDX-License-Identifier: MIT */
/* Argument-parsing helpers shared by the lading-* commands. */
#ifndef LADING_TOOLS_CLI_H
#define LADING_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>

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

#endif
