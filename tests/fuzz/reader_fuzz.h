/* SPDX-License-Identifier: MIT */
#ifndef LADING_TESTS_READER_FUZZ_H
#define LADING_TESTS_READER_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Opens data as a bootstrap and exercises the whole reader API on it. */
int lading_fuzz_one(const uint8_t *data, size_t size);

#endif
