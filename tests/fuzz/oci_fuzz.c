// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the OCI document parsing of lib/image/image.c: an
 * index (the manifest chosen from it and its descriptor), an image
 * manifest (config descriptor, layers: digests, media types, sizes) or a
 * config (platform, diff_ids), through lading_image_parse_document().
 * The first byte picks the kind; the rest is the JSON document.
 * Invariants: no crash or leak, a result of 0 or a negative errno with a
 * message, and the same answer twice.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lading/image.h>

#define FUZZ_CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const kinds[] = { "index", "manifest", "config" };
	struct lading_error e1 = { 0 }, e2 = { 0 };
	const char *kind;
	int r1, r2;

	if (!size)
		return 0;
	kind = kinds[data[0] % 3];
	r1 = lading_image_parse_document(kind, data + 1, size - 1, &e1);
	r2 = lading_image_parse_document(kind, data + 1, size - 1, &e2);
	FUZZ_CHECK(r1 <= 0 && r1 == r2);
	FUZZ_CHECK(!r1 || (e1.msg[0] && !strcmp(e1.msg, e2.msg)));
	return 0;
}
