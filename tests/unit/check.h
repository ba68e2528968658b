/* SPDX-License-Identifier: MIT */
/* A minimal assertion helper for the unit tests: count, report, exit. */
#ifndef LADING_CHECK_H
#define LADING_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_failures, check_count;

#define CHECK(cond)                                                        \
	do {                                                               \
		check_count++;                                             \
		if (!(cond)) {                                             \
			check_failures++;                                  \
			fprintf(stderr, "%s:%d: check failed: %s\n",       \
				__FILE__, __LINE__, #cond);                \
		}                                                          \
	} while (0)

#define CHECK_EQ_U64(a, b)                                                 \
	do {                                                               \
		unsigned long long a_ = (unsigned long long)(a);           \
		unsigned long long b_ = (unsigned long long)(b);           \
		check_count++;                                             \
		if (a_ != b_) {                                            \
			check_failures++;                                  \
			fprintf(stderr, "%s:%d: %s == %s: %llu != %llu\n", \
				__FILE__, __LINE__, #a, #b, a_, b_);       \
		}                                                          \
	} while (0)

static inline int check_summary(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
