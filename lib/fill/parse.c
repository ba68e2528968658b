// SPDX-License-Identifier: MIT
/*
 * Parsing of what the kernel hands the filler: /dev/cachefiles messages
 * (<linux/cachefiles.h>) and fanotify events with their info records.
 * The layouts are spelled out here because Debian's 6.1 headers lack the
 * pre-content parts.  Nothing is trusted: every length is checked against
 * the bytes actually read.
 */
#include <errno.h>
#include <string.h>
#include <lading/fill.h>
#include <lading/cachefiles.h>
#include <lading/fill_events.h>
#include <lading/fetch.h>

struct cf_msg_hdr {
	uint32_t msg_id;
	uint32_t opcode;
	uint32_t len;		/* including this header */
	uint32_t object_id;
};
static_assert(sizeof(struct cf_msg_hdr) == 16, "struct cachefiles_msg");

struct cf_open {
	uint32_t volume_key_size;	/* including its NUL */
	uint32_t cookie_key_size;
	uint32_t fd;
	uint32_t flags;
};
static_assert(sizeof(struct cf_open) == 16, "struct cachefiles_open");

struct cf_read {
	uint64_t off;
	uint64_t len;
};
static_assert(sizeof(struct cf_read) == 16, "struct cachefiles_read");

struct fan_metadata {
	uint32_t event_len;
	uint8_t vers;
	uint8_t reserved;
	uint16_t metadata_len;
	uint64_t mask;
	int32_t fd;
	int32_t pid;
};
static_assert(sizeof(struct fan_metadata) == 24, "fanotify_event_metadata");

struct fan_info_header {
	uint8_t info_type;
	uint8_t pad;
	uint16_t len;
};

struct fan_info_range {
	struct fan_info_header hdr;
	uint32_t pad;
	uint64_t offset;
	uint64_t count;
};
static_assert(sizeof(struct fan_info_range) == 24, "fanotify_event_info_range");

#define FAN_METADATA_VERSION 3
#define FAN_INFO_TYPE_RANGE 6

/*
 * err NULL: no message, and no allocation (the fanotify guardian parses
 * after fork())
 */
static int bad(struct lading_error *err, const char *what)
{
	return lading_error_set(err, EBADMSG, "%s", what);
}

int lading_cachefiles_msg_parse(const void *buf, size_t n,
				struct lading_cachefiles_msg *m,
				struct lading_error *err)
{
	const uint8_t *p = buf;
	struct cf_msg_hdr h;
	struct cf_open o;
	struct cf_read r;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (n < sizeof(h))
		return bad(err, "message shorter than its header");
	if (n > LADING_CACHEFILES_MSG_MAX)
		return bad(err, "message longer than 1024 bytes");
	memcpy(&h, p, sizeof(h));
	m->msg_id = h.msg_id;
	m->opcode = h.opcode;
	m->object_id = h.object_id;
	if (h.len != n)
		return bad(err, "message length field disagrees with the read");
	switch (h.opcode) {
	case LADING_CACHEFILES_OP_OPEN:
		if (n < sizeof(h) + sizeof(o))
			return bad(err, "OPEN message too short");
		memcpy(&o, p + sizeof(h), sizeof(o));
		m->fd = (int)o.fd;
		m->flags = o.flags;
		if (m->fd < 0)
			return bad(err, "OPEN without an fd");
		if (!o.volume_key_size ||
		    o.volume_key_size > n - sizeof(h) - sizeof(o) ||
		    o.cookie_key_size != n - sizeof(h) - sizeof(o) - o.volume_key_size)
			return bad(err, "OPEN key sizes disagree with the message");
		m->volume_key = (const char *)p + sizeof(h) + sizeof(o);
		m->volume_key_len = o.volume_key_size - 1;
		if (m->volume_key[m->volume_key_len] != '\0' ||
		    memchr(m->volume_key, '\0', m->volume_key_len))
			return bad(err, "OPEN volume key is not one string");
		m->cookie_key = (const uint8_t *)m->volume_key + o.volume_key_size;
		m->cookie_key_len = o.cookie_key_size;
		return 0;
	case LADING_CACHEFILES_OP_CLOSE:
		if (n != sizeof(h))
			return bad(err, "CLOSE message with a body");
		return 0;
	case LADING_CACHEFILES_OP_READ:
		if (n != sizeof(h) + sizeof(r))
			return bad(err, "READ message of the wrong size");
		memcpy(&r, p + sizeof(h), sizeof(r));
		if (r.off + r.len < r.off)
			return bad(err, "READ range wraps around");
		m->off = r.off;
		m->len = r.len;
		return 0;
	default:
		return bad(err, "unknown opcode");
	}
}

int lading_fanotify_event_parse(const void *buf, size_t n,
				struct lading_fanotify_event *ev, size_t *used,
				struct lading_error *err)
{
	const uint8_t *p = buf, *q, *end;
	struct fan_metadata md;

	memset(ev, 0, sizeof(*ev));
	ev->fd = -1;
	*used = 0;
	if (n < sizeof(md))
		return bad(err, "event shorter than its metadata");
	memcpy(&md, p, sizeof(md));
	ev->fd = md.fd;
	ev->pid = md.pid;
	ev->mask = md.mask;
	if (md.event_len < sizeof(md) || md.event_len > n)
		return bad(err, "event length outside the buffer");
	if (md.vers != FAN_METADATA_VERSION)
		return bad(err, "unknown fanotify metadata version");
	if (md.metadata_len < sizeof(md) || md.metadata_len > md.event_len)
		return bad(err, "metadata length outside the event");
	*used = md.event_len;
	q = p + md.metadata_len;
	end = p + md.event_len;
	while ((size_t)(end - q) >= sizeof(struct fan_info_header)) {
		struct fan_info_header ih;

		memcpy(&ih, q, sizeof(ih));
		if (ih.len < sizeof(ih) || ih.len > (size_t)(end - q))
			return bad(err, "info record length outside the event");
		if (ih.info_type == FAN_INFO_TYPE_RANGE) {
			struct fan_info_range ri;

			if (ih.len < sizeof(ri))
				return bad(err, "range record too short");
			memcpy(&ri, q, sizeof(ri));
			ev->has_range = true;
			ev->off = ri.offset;
			ev->count = ri.count;
		}
		q += ih.len;
	}
	return 0;
}
