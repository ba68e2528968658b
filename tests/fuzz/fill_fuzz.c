// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the filler's kernel message parsers (lib/fill/
 * parse.c).  The first byte picks the parser; the rest is what read()
 * returned from /dev/cachefiles or a fanotify group.  Invariants: an
 * accepted message's pointers and lengths stay inside the input, and the
 * event walk always advances.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lading/fill.h>
#include <lading/cachefiles.h>
#include <lading/fill_events.h>
#include <lading/fetch.h>

#define FUZZ_CHECK(c) do { if (!(c)) abort(); } while (0)

static void fuzz_cachefiles(const uint8_t *data, size_t size)
{
	struct lading_cachefiles_msg m;
	struct lading_error why = { 0 };

	if (lading_cachefiles_msg_parse(data, size, &m, &why))
		return;
	FUZZ_CHECK(size >= 16 && size <= LADING_CACHEFILES_MSG_MAX);
	if (m.opcode == LADING_CACHEFILES_OP_OPEN) {
		const uint8_t *v = (const uint8_t *)m.volume_key;

		FUZZ_CHECK(v > data && v + m.volume_key_len < data + size);
		FUZZ_CHECK(v[m.volume_key_len] == 0);
		FUZZ_CHECK(strlen(m.volume_key) == m.volume_key_len);
		FUZZ_CHECK(m.cookie_key + m.cookie_key_len == data + size);
		FUZZ_CHECK(m.fd >= 0);
	}
	if (m.opcode == LADING_CACHEFILES_OP_READ)
		FUZZ_CHECK(m.off + m.len >= m.off);
}

static void fuzz_fanotify(const uint8_t *data, size_t size)
{
	struct lading_fanotify_event ev;
	size_t at = 0, used;
	struct lading_error why;

	while (at < size) {
		lading_error_clear(&why);
		if (lading_fanotify_event_parse(data + at, size - at, &ev, &used,
						&why))
			break;
		FUZZ_CHECK(used >= 24 && used <= size - at);
		at += used;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (!size)
		return 0;
	/* an exact-size copy, so ASan sees any read past the end */
	copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	if (data[0] & 1)
		fuzz_fanotify(copy, size - 1);
	else
		fuzz_cachefiles(copy, size - 1);
	free(copy);
	return 0;
}
