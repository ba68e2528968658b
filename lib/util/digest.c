// SPDX-License-Identifier: MIT
/*
 * sha256 digests: every hash in lading goes through these checked helpers
 * (OpenSSL EVP underneath), and every digest is printed and parsed here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <lading/util.h>

int lading_sha256(const void *buf, size_t len, struct lading_digest *out)
{
	unsigned int dl;

	if (EVP_Digest(buf, len, out->bytes, &dl, EVP_sha256(), NULL) != 1 ||
	    dl != sizeof(out->bytes))
		return -EIO;
	return 0;
}

int lading_sha256_init(struct lading_sha256_ctx *c)
{
	c->md = EVP_MD_CTX_new();
	if (!c->md)
		return -ENOMEM;
	if (EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
		lading_sha256_free(c);
		return -EIO;
	}
	return 0;
}

int lading_sha256_update(struct lading_sha256_ctx *c, const void *buf,
			 size_t len)
{
	return EVP_DigestUpdate(c->md, buf, len) == 1 ? 0 : -EIO;
}

int lading_sha256_final(struct lading_sha256_ctx *c, struct lading_digest *out)
{
	unsigned int dl;

	if (EVP_DigestFinal_ex(c->md, out->bytes, &dl) != 1 ||
	    dl != sizeof(out->bytes))
		return -EIO;
	/* ready for the next message */
	return EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

void lading_sha256_free(struct lading_sha256_ctx *c)
{
	EVP_MD_CTX_free(c->md);
	c->md = NULL;
}

int lading_sha256_fd(int fd, struct lading_digest *out, uint64_t *bytes)
{
	struct lading_sha256_ctx c;
	size_t bufsz = 4u << 20;
	uint8_t *buf = malloc(bufsz);
	uint64_t off = 0;
	int ret = buf ? lading_sha256_init(&c) : -ENOMEM;

	if (ret) {
		free(buf);
		return ret;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		ssize_t n = pread(fd, buf, bufsz, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		ret = lading_sha256_update(&c, buf, (size_t)n);
		if (ret)
			break;
		off += (uint64_t)n;
	}
	if (!ret)
		ret = lading_sha256_final(&c, out);
	*bytes += off;
	lading_sha256_free(&c);
	free(buf);
	return ret;
}

void lading_digest_hex(const struct lading_digest *d, char *out)
{
	lading_hex_encode(out, d->bytes, sizeof(d->bytes));
}

void lading_digest_format(const struct lading_digest *d, char *out)
{
	memcpy(out, LADING_DIGEST_PREFIX, sizeof(LADING_DIGEST_PREFIX) - 1);
	lading_digest_hex(d, out + sizeof(LADING_DIGEST_PREFIX) - 1);
}

int lading_digest_parse(const char *s, struct lading_digest *d)
{
	struct lading_digest tmp;

	if (!strncmp(s, LADING_DIGEST_PREFIX, sizeof(LADING_DIGEST_PREFIX) - 1))
		s += sizeof(LADING_DIGEST_PREFIX) - 1;
	/* lowercase only: the one spelling OCI digests and blob names have */
	if (strspn(s, "0123456789abcdef") != LADING_DIGEST_HEX_LEN ||
	    lading_hex_decode(tmp.bytes, s, sizeof(tmp.bytes)))
		return -EINVAL;
	if (d)
		*d = tmp;
	return 0;
}
