// SPDX-License-Identifier: MIT
/*
 * Source images.  Small documents (index, manifests, configs) are read
 * whole and checked against their digests before they are parsed; layers
 * are only opened as streams, read once by the tar source, which checks
 * their digests at the end.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <lading/image.h>

#define SMALL_MAX (4u << 20)	/* JSON documents larger than this: refused */

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

static const char *const layer_media_types[] = {
	"application/vnd.oci.image.layer.v1.tar",
	"application/vnd.oci.image.layer.v1.tar+gzip",
	"application/vnd.oci.image.layer.v1.tar+zstd",
	"application/vnd.docker.image.rootfs.diff.tar",
	"application/vnd.docker.image.rootfs.diff.tar.gzip",
	"application/vnd.docker.image.rootfs.diff.tar.zstd",
	"application/vnd.oci.image.layer.nondistributable.v1.tar",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};

struct small_member {
	char *name;
	char *data;
	size_t len;
};

struct image_priv {
	struct lading_image pub;
	struct lading_registry *registry;	/* docker:// sources */
	char *registry_ref;
	struct small_member *members;	/* archives: small files, read once */
	size_t nmembers;
};

/* ---- references ----------------------------------------------------- */

int lading_image_ref_parse(const char *s, struct lading_image_ref *out,
			   struct lading_error *err)
{
	static const struct {
		const char *prefix;
		enum lading_transport t;
	} transports[] = {
		{ "oci:", LADING_TRANSPORT_OCI },
		{ "oci-archive:", LADING_TRANSPORT_OCI_ARCHIVE },
		{ "docker-archive:", LADING_TRANSPORT_DOCKER_ARCHIVE },
		{ "dir:", LADING_TRANSPORT_DIR },
	};
	const char *rest = NULL, *colon;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!strncmp(s, "docker://", 9)) {
		/* parsed by the registry module; the whole reference is kept */
		out->transport = LADING_TRANSPORT_DOCKER;
		out->path = strdup(s);
		return out->path ? 0 : lading_error_set(err, ENOMEM, "out of memory");
	}
	for (i = 0; i < LADING_ARRAY_SIZE(transports); i++) {
		size_t n = strlen(transports[i].prefix);

		if (!strncmp(s, transports[i].prefix, n)) {
			out->transport = transports[i].t;
			rest = s + n;
			break;
		}
	}
	if (!rest || !*rest)
		return lading_error_set(err, EINVAL, "'%s': expected oci:DIR[:REF], "
			"oci-archive:FILE[:REF], docker-archive:FILE[:REF], dir:DIR "
			"or docker://HOST/REPO[:TAG|@DIGEST]", s);
	/* the reference follows the last ':' unless that part is a path */
	colon = strrchr(rest, ':');
	if (out->transport != LADING_TRANSPORT_DIR && colon &&
	    !strchr(colon, '/') && colon != rest) {
		out->path = strndup(rest, (size_t)(colon - rest));
		out->ref = colon[1] ? strdup(colon + 1) : NULL;
		/* docker-archive refs are name:tag: the first colon splits */
		if (out->transport == LADING_TRANSPORT_DOCKER_ARCHIVE) {
			const char *first = strchr(rest, ':');

			free(out->path);
			free(out->ref);
			out->path = strndup(rest, (size_t)(first - rest));
			out->ref = strdup(first + 1);
		}
	} else {
		out->path = strdup(rest);
	}
	if (!out->path)
		return lading_error_set(err, ENOMEM, "out of memory");
	return 0;
}

void lading_image_ref_free(struct lading_image_ref *r)
{
	free(r->path);
	free(r->ref);
	r->path = r->ref = NULL;
}

/* ---- small documents ------------------------------------------------- */

static bool valid_digest(const char *d, const char **hex)
{
	/* the prefix is required here: parse alone takes bare hex too */
	if (!d || strncmp(d, LADING_DIGEST_PREFIX, 7) || lading_digest_parse(d, NULL))
		return false;
	*hex = d + 7;
	return true;
}

/*
 * A file of the layout, which must be a regular file (symlinks are
 * followed: the bytes are checked against their digest all the same).
 * O_NONBLOCK: a FIFO or a device is refused without blocking on it.
 * -EINVAL: not a regular file.
 */
static int open_regular(const char *path, struct stat *st)
{
	int fd;

	if (stat(path, st) < 0)
		return -errno;
	if (!S_ISREG(st->st_mode))
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

static int read_file(const char *path, char **buf, size_t *len)
{
	struct stat st;
	int fd = open_regular(path, &st), ret;

	if (fd < 0)
		return fd;
	if ((uint64_t)st.st_size > SMALL_MAX) {
		close(fd);
		return -EFBIG;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		close(fd);
		return -ENOMEM;
	}
	ret = lading_pread_full(fd, *buf, (size_t)st.st_size, 0);
	close(fd);
	if (ret) {
		free(*buf);
		return ret;
	}
	(*buf)[st.st_size] = '\0';
	*len = (size_t)st.st_size;
	return 0;
}

/* Archives: every small regular member, in one pass. */
static int load_members(struct image_priv *ip, struct lading_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int r, ret = 0;

	if (!a)
		return lading_error_set(err, ENOMEM, "out of memory");
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	if (archive_read_open_filename(a, ip->pub.ref.path, 1 << 16) != ARCHIVE_OK) {
		ret = lading_error_set(err, EINVAL, "%s: %s", ip->pub.ref.path,
				       archive_error_string(a));
		goto out;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN) {
		struct small_member *m, *n;
		la_int64_t size = archive_entry_size(e);
		const char *name = archive_entry_pathname(e);

		if (archive_entry_filetype(e) != AE_IFREG || size < 0 ||
		    size > SMALL_MAX || !name)
			continue;
		n = realloc(ip->members, (ip->nmembers + 1) * sizeof(*n));
		if (!n) {
			ret = lading_error_set(err, ENOMEM, "out of memory");
			goto out;
		}
		ip->members = n;
		m = &ip->members[ip->nmembers++];
		m->name = strdup(name[0] == '.' && name[1] == '/' ? name + 2 : name);
		m->data = malloc((size_t)size + 1);
		m->len = (size_t)size;
		if (!m->name || !m->data) {
			ret = lading_error_set(err, ENOMEM, "out of memory");
			goto out;
		}
		if (archive_read_data(a, m->data, (size_t)size) != size) {
			ret = lading_error_set(err, EINVAL, "%s: member %s: %s",
					       ip->pub.ref.path, name,
					       archive_error_string(a));
			goto out;
		}
		m->data[size] = '\0';
	}
	if (r != ARCHIVE_EOF)
		ret = lading_error_set(err, EINVAL, "%s: %s", ip->pub.ref.path,
				       archive_error_string(a));
out:
	archive_read_free(a);
	return ret;
}

/* A document by its name in the layout/archive; NUL-terminated copy. */
static int read_small(struct image_priv *ip, const char *name, char **buf,
		      size_t *len, struct lading_error *err)
{
	size_t i;
	int ret;

	if (ip->pub.ref.transport == LADING_TRANSPORT_OCI ||
	    ip->pub.ref.transport == LADING_TRANSPORT_DIR) {
		char *path = lading_path_join(ip->pub.ref.path, name);

		if (!path)
			return lading_error_set(err, ENOMEM, "out of memory");
		ret = read_file(path, buf, len);
		if (ret)
			lading_error_set(err, -ret, "%s: %s", path, ret == -EFBIG ?
					 "larger than 4 MiB" : ret == -EINVAL ?
					 "not a regular file" : strerror(-ret));
		free(path);
		return ret;
	}
	if (ip->pub.ref.transport == LADING_TRANSPORT_DOCKER) {
		char digest[80];

		/* only blobs/sha256/<hex> names reach here for registries */
		snprintf(digest, sizeof(digest), "sha256:%s", name + 13);
		return lading_registry_get_blob(ip->registry, digest, SMALL_MAX, buf,
						len, err);
	}
	for (i = 0; i < ip->nmembers; i++) {
		if (strcmp(ip->members[i].name, name))
			continue;
		*buf = malloc(ip->members[i].len + 1);
		if (!*buf)
			return lading_error_set(err, ENOMEM, "out of memory");
		memcpy(*buf, ip->members[i].data, ip->members[i].len + 1);
		*len = ip->members[i].len;
		return 0;
	}
	return lading_error_set(err, ENOENT, "%s: no %s in the archive",
				ip->pub.ref.path, name);
}

static bool sha256_matches(const char *buf, size_t len, const char *hex)
{
	struct lading_digest d;
	char h[LADING_DIGEST_HEX_LEN + 1];

	/* a digest that cannot be computed matches nothing */
	if (lading_sha256(buf, len, &d))
		return false;
	lading_digest_hex(&d, h);
	return !strcmp(h, hex);
}

/* A blob named by digest, read whole and checked. */
static int read_blob(struct image_priv *ip, const char *digest,
		     json_int_t size, char **buf, size_t *len,
		     struct lading_error *err)
{
	char name[7 + 7 + 64 + 1];
	const char *hex;
	int ret;

	if (!valid_digest(digest, &hex))
		return lading_error_set(err, EINVAL, "%s: unsupported digest '%s'",
					ip->pub.ref.path, digest ? digest : "(none)");
	snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
	ret = read_small(ip, name, buf, len, err);
	if (ret)
		return ret;
	if (!sha256_matches(*buf, *len, hex) || (size >= 0 && (size_t)size != *len)) {
		free(*buf);
		return lading_error_set(err, EBADMSG, "%s: blob %s: digest or size "
					"mismatch", ip->pub.ref.path, digest);
	}
	return 0;
}

static json_t *parse_json(const char *buf, size_t len, const char *what,
			  struct lading_error *err)
{
	json_error_t je;
	json_t *j = json_loadb(buf, len, 0, &je);

	if (!j)
		lading_error_set(err, EINVAL, "%s: malformed JSON: %s (line %d)",
				 what, je.text, je.line);
	return j;
}

/* ---- choosing a manifest -------------------------------------------- */

static void host_platform(const char **os, const char **arch)
{
	static struct utsname u;

	*os = "linux";
	*arch = "amd64";
	if (uname(&u) == 0) {
		if (!strcmp(u.machine, "aarch64"))
			*arch = "arm64";
		else if (!strncmp(u.machine, "arm", 3))
			*arch = "arm";
		else if (!strcmp(u.machine, "ppc64le"))
			*arch = "ppc64le";
		else if (!strcmp(u.machine, "s390x"))
			*arch = "s390x";
		else if (!strcmp(u.machine, "riscv64"))
			*arch = "riscv64";
	}
}

bool lading_image_platform_matches(struct json_t *desc, const char *want)
{
	json_t *p = json_object_get(desc, "platform");
	const char *os = json_string_value(json_object_get(p, "os"));
	const char *arch = json_string_value(json_object_get(p, "architecture"));
	const char *var = json_string_value(json_object_get(p, "variant"));
	char have[256];

	if (!os || !arch)
		return false;
	snprintf(have, sizeof(have), "%s/%s", os, arch);
	if (!strcmp(have, want))
		return true;
	if (var) {
		snprintf(have, sizeof(have), "%s/%s/%s", os, arch, var);
		return !strcmp(have, want);
	}
	return false;
}

static int pick_from_index(struct image_priv *ip, json_t *index, const char *ref,
			   const char *platform, json_t **desc,
			   struct lading_error *err)
{
	json_t *m = json_object_get(index, "manifests"), *d, *only = NULL;
	size_t i, n = json_array_size(m), named = 0;

	*desc = NULL;
	if (!json_is_array(m) || !n)
		return lading_error_set(err, EINVAL, "%s: index lists no manifests",
					ip->pub.ref.path);
	json_array_foreach(m, i, d) {
		json_t *ann = json_object_get(d, "annotations");
		const char *name = json_string_value(
			json_object_get(ann, "org.opencontainers.image.ref.name"));

		if (ref && name && !strcmp(name, ref))
			*desc = d;
		if (!ref && name && !strcmp(name, "latest"))
			*desc = d;
		if (name)
			named++;
		if (platform && lading_image_platform_matches(d, platform) && !*desc)
			only = d;
	}
	if (ref && !*desc)
		return lading_error_set(err, ENOENT, "%s: no image named '%s'",
					ip->pub.ref.path, ref);
	if (!*desc && only)
		*desc = only;
	if (!*desc && n == 1)
		*desc = json_array_get(m, 0);
	if (!*desc)
		return lading_error_set(err, EINVAL, "%s: %zu images, none named "
					"'latest': name one (%zu named)",
					ip->pub.ref.path, n, named);
	return 0;
}

/*
 * The uncompressed digests the config gives its layers, checked when each
 * layer is read.  As in containerd, there is one per layer, each a sha256.
 */
static int set_diff_ids(struct image_priv *ip, json_t *config,
			struct lading_error *err)
{
	json_t *ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	size_t i;

	if (json_array_size(ids) != ip->pub.nlayers)
		return lading_error_set(err, EINVAL, "%s: config: rootfs.diff_ids "
					"has %zu entries for %zu layers",
					ip->pub.ref.path, json_array_size(ids),
					ip->pub.nlayers);
	for (i = 0; i < ip->pub.nlayers; i++) {
		const char *d = json_string_value(json_array_get(ids, i)), *hex;

		if (!valid_digest(d, &hex))
			return lading_error_set(err, EINVAL, "%s: config: "
						"rootfs.diff_ids[%zu] is not a "
						"sha256 digest", ip->pub.ref.path, i);
		ip->pub.layers[i].diff_id = strdup(d);
		if (!ip->pub.layers[i].diff_id)
			return lading_error_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

static int set_platform(struct image_priv *ip, json_t *config)
{
	const char *os = json_string_value(json_object_get(config, "os"));
	const char *arch = json_string_value(json_object_get(config, "architecture"));
	const char *var = json_string_value(json_object_get(config, "variant"));

	ip->pub.os = os ? strdup(os) : NULL;
	ip->pub.arch = arch ? strdup(arch) : NULL;
	ip->pub.variant = var ? strdup(var) : NULL;
	return 0;
}

static bool known_layer_type(const char *mt)
{
	size_t i;

	for (i = 0; i < LADING_ARRAY_SIZE(layer_media_types); i++)
		if (!strcmp(mt, layer_media_types[i]))
			return true;
	return false;
}

/*
 * A descriptor's size: a JSON integer from 0 to max.  Reals ("1e3",
 * "10.0"), strings and negative numbers are refused; integers beyond
 * 2^63 never get here (jansson refuses them as malformed JSON).
 */
static int desc_size(struct image_priv *ip, json_t *desc, const char *what,
		     uint64_t max, uint64_t *size, struct lading_error *err)
{
	json_t *s = json_object_get(desc, "size");

	if (!s)
		return lading_error_set(err, EINVAL, "%s: %s: no size",
					ip->pub.ref.path, what);
	if (!json_is_integer(s) || json_integer_value(s) < 0)
		return lading_error_set(err, EINVAL, "%s: %s: size is %s, not a "
					"non-negative integer", ip->pub.ref.path, what,
					json_is_integer(s) ? "negative" :
					json_is_real(s) ? "a real number" :
					json_is_string(s) ? "a string" : "not a number");
	if ((uint64_t)json_integer_value(s) > max)
		return lading_error_set(err, EFBIG, "%s: %s: size %lld is over the "
					"%llu bytes allowed", ip->pub.ref.path, what,
					(long long)json_integer_value(s),
					(unsigned long long)max);
	*size = (uint64_t)json_integer_value(s);
	return 0;
}

/* The layers a manifest lists, checked, into ip->pub.layers. */
static int manifest_layers(struct image_priv *ip, json_t *layers,
			   struct lading_error *err)
{
	json_t *l;
	size_t i;

	ip->pub.nlayers = json_array_size(layers);
	ip->pub.layers = calloc(ip->pub.nlayers ? ip->pub.nlayers : 1,
				sizeof(*ip->pub.layers));
	if (!ip->pub.layers) {
		ip->pub.nlayers = 0;
		return lading_error_set(err, ENOMEM, "out of memory");
	}
	json_array_foreach(layers, i, l) {
		struct lading_image_layer *L = &ip->pub.layers[i];
		const char *lmt = json_string_value(json_object_get(l, "mediaType"));
		const char *ldg = json_string_value(json_object_get(l, "digest"));
		const char *hex;
		char loc[7 + 7 + 64 + 1], what[128];
		int ret;

		if (!valid_digest(ldg, &hex))
			return lading_error_set(err, EINVAL, "%s: layer %zu: bad digest",
						ip->pub.ref.path, i + 1);
		snprintf(what, sizeof(what), "layer %zu (%s)", i + 1, ldg);
		if (!lmt || !known_layer_type(lmt))
			return lading_error_set(err, EINVAL, "%s: %s has an unknown "
						"media type", ip->pub.ref.path, what);
		ret = desc_size(ip, l, what, INT64_MAX, &L->size, err);
		if (ret)
			return ret;
		L->sized = true;
		snprintf(loc, sizeof(loc), "blobs/sha256/%s", hex);
		L->digest = strdup(ldg);
		L->media_type = strdup(lmt);
		L->location = strdup(loc);
		L->expected_sha256 = strdup(hex);
		if (!L->digest || !L->media_type || !L->location || !L->expected_sha256)
			return lading_error_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

/*
 * A parsed manifest: an image manifest (its config descriptor and layers
 * checked; *cfg_desc set) or an index (*is_index set).
 */
static int check_manifest(struct image_priv *ip, json_t *man, const char *mt,
			  const char *dg, json_t **cfg_desc, bool *is_index,
			  struct lading_error *err)
{
	json_t *cfg, *layers;
	const char *cdg, *hex;
	uint64_t csize;
	int ret;

	*is_index = false;
	if (!json_is_object(man))
		return lading_error_set(err, EINVAL, "%s: manifest %s is not a JSON "
					"object", ip->pub.ref.path, dg);
	if (!mt)
		mt = json_string_value(json_object_get(man, "mediaType"));
	if (mt && (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST))) {
		*is_index = true;
		return 0;
	}
	if (mt && strcmp(mt, MT_OCI_MANIFEST) && strcmp(mt, MT_DOCKER_MANIFEST))
		return lading_error_set(err, EINVAL, "%s: manifest %s has an unknown "
					"media type", ip->pub.ref.path, dg);
	cfg = json_object_get(man, "config");
	layers = json_object_get(man, "layers");
	if (!json_is_object(cfg) || !json_is_array(layers))
		return lading_error_set(err, EINVAL, "%s: manifest %s lacks config "
					"or layers", ip->pub.ref.path, dg);
	cdg = json_string_value(json_object_get(cfg, "digest"));
	if (!valid_digest(cdg, &hex))
		return lading_error_set(err, EINVAL, "%s: manifest %s: bad config "
					"digest", ip->pub.ref.path, dg);
	ret = desc_size(ip, cfg, "config", SMALL_MAX, &csize, err);
	if (!ret)
		ret = manifest_layers(ip, layers, err);
	*cfg_desc = cfg;
	return ret;
}

/* The config (its bytes verified): platform, diff_ids. */
static int use_config(struct image_priv *ip, char *cbuf, size_t clen,
		      const char *digest, struct lading_error *err)
{
	json_t *config = parse_json(cbuf, clen, "config", err);
	int ret;

	if (!config)
		return -EINVAL;
	if (!json_is_object(config)) {
		json_decref(config);
		return lading_error_set(err, EINVAL, "%s: config %s is not a JSON "
					"object", ip->pub.ref.path, digest);
	}
	ip->pub.config_digest = strdup(digest);
	if (!ip->pub.config_digest) {
		json_decref(config);
		return lading_error_set(err, ENOMEM, "out of memory");
	}
	set_platform(ip, config);
	ret = set_diff_ids(ip, config, err);
	json_decref(config);
	if (ret)
		return ret;	/* cbuf stays the caller's */
	ip->pub.config = cbuf;
	ip->pub.config_len = clen;
	return 0;
}

/* The descriptor of the image manifest chosen, as a subject names it. */
static int set_manifest_desc(struct image_priv *ip, json_t *man, const char *mt,
			     const char *dg, uint64_t size, struct lading_error *err)
{
	if (!mt)
		mt = json_string_value(json_object_get(man, "mediaType"));
	ip->pub.manifest_digest = strdup(dg);
	ip->pub.manifest_media_type = strdup(mt ? mt : MT_OCI_MANIFEST);
	ip->pub.manifest_size = size;
	if (!ip->pub.manifest_digest || !ip->pub.manifest_media_type)
		return lading_error_set(err, ENOMEM, "out of memory");
	return 0;
}

static int load_manifest(struct image_priv *ip, json_t *desc, const char *platform,
			 int depth, struct lading_error *err)
{
	const char *mt = json_string_value(json_object_get(desc, "mediaType"));
	const char *dg = json_string_value(json_object_get(desc, "digest"));
	const char *hex;
	json_t *man, *cfg = NULL;
	char *buf = NULL, *cbuf = NULL, what[4200];
	uint64_t size, csize;
	size_t len, clen;
	bool is_index;
	int ret;

	if (!valid_digest(dg, &hex))
		return lading_error_set(err, EINVAL, "%s: bad manifest digest",
					ip->pub.ref.path);
	snprintf(what, sizeof(what), "manifest %s", dg);
	ret = desc_size(ip, desc, what, SMALL_MAX, &size, err);
	if (ret)
		return ret;
	if (ip->pub.ref.transport == LADING_TRANSPORT_DOCKER) {
		char got[80], *mt2 = NULL;

		ret = lading_registry_get_manifest(ip->registry, dg, &buf, &len,
						   &mt2, got, err);
		free(mt2);
		if (!ret && len != size) {
			free(buf);
			ret = lading_error_set(err, EBADMSG, "%s: %s is %zu bytes, "
					       "its descriptor says %llu",
					       ip->pub.ref.path, what, len,
					       (unsigned long long)size);
		}
	} else {
		ret = read_blob(ip, dg, (json_int_t)size, &buf, &len, err);
	}
	if (ret)
		return ret;
	snprintf(what, sizeof(what), "%s: manifest %s", ip->pub.ref.path, dg);
	man = parse_json(buf, len, what, err);
	free(buf);
	if (!man)
		return -EINVAL;
	ret = check_manifest(ip, man, mt, dg, &cfg, &is_index, err);
	if (!ret && is_index) {
		json_t *sub;

		if (depth > 4) {
			json_decref(man);
			return lading_error_set(err, ELOOP, "%s: indexes nested too deep",
						ip->pub.ref.path);
		}
		ret = pick_from_index(ip, man, NULL, platform, &sub, err);
		if (!ret && !lading_image_platform_matches(sub, platform))
			ret = lading_error_set(err, ENOENT, "%s: index %s has no "
					       "image for %s", ip->pub.ref.path, dg,
					       platform);
		if (!ret)
			ret = load_manifest(ip, sub, platform, depth + 1, err);
		json_decref(man);
		return ret;
	}
	if (!ret)
		ret = set_manifest_desc(ip, man, mt, dg, size, err);
	if (!ret)
		ret = desc_size(ip, cfg, "config", SMALL_MAX, &csize, err);
	if (!ret)
		ret = read_blob(ip, json_string_value(json_object_get(cfg, "digest")),
				(json_int_t)csize, &cbuf, &clen, err);
	if (!ret) {
		ret = use_config(ip, cbuf, clen,
				 json_string_value(json_object_get(cfg, "digest")), err);
		if (ret)
			free(cbuf);
	}
	json_decref(man);
	return ret;
}

/* A top-level JSON document of the image by name, read and parsed. */
static int load_document(struct image_priv *ip, const char *name, json_t **out,
			 struct lading_error *err)
{
	char what[4096], *buf;
	size_t len;
	int ret = read_small(ip, name, &buf, &len, err);

	if (ret)
		return ret;
	snprintf(what, sizeof(what), "%s: %s", ip->pub.ref.path, name);
	*out = parse_json(buf, len, what, err);
	free(buf);
	return *out ? 0 : -EINVAL;
}

static int open_oci(struct image_priv *ip, const char *platform,
		    struct lading_error *err)
{
	json_t *index, *desc;
	int ret;

	ret = load_document(ip, "index.json", &index, err);
	if (ret)
		return ret;
	ret = pick_from_index(ip, index, ip->pub.ref.ref, platform, &desc, err);
	if (!ret)
		ret = load_manifest(ip, desc, platform, 0, err);
	json_decref(index);
	return ret;
}

/*
 * The document a docker:// reference names, with a descriptor of it (its
 * digest just verified): the registry stays open in ip.
 */
static int registry_top(struct image_priv *ip, const struct lading_registry_opts *opts,
			char **body, size_t *len, char **mt, json_t **desc,
			struct lading_error *err)
{
	struct lading_registry_opts none = { 0 };
	char *host, *repo, *ref, digest[80];
	int ret;

	*body = NULL;
	*mt = NULL;
	*desc = NULL;
	ret = lading_docker_ref_parse(ip->pub.ref.path, &host, &repo, &ref, err);
	if (ret)
		return ret;
	ret = lading_registry_open(host, repo, opts ? opts : &none, &ip->registry, err);
	if (!ret)
		ret = lading_registry_get_manifest(ip->registry, ref, body, len, mt,
						   digest, err);
	if (!ret) {
		*desc = json_pack("{s:s, s:s, s:I}", "mediaType", *mt && **mt ? *mt :
				  MT_OCI_MANIFEST, "digest", digest, "size",
				  (json_int_t)*len);
		if (!*desc)
			ret = lading_error_set(err, ENOMEM, "out of memory");
	}
	free(host);
	free(repo);
	free(ref);
	return ret;
}

/* A registry: the reference names a manifest or an index. */
static int open_registry(struct image_priv *ip, const char *platform,
			 const struct lading_registry_opts *opts,
			 struct lading_error *err)
{
	char *body, *mt;
	size_t len;
	json_t *desc;
	int ret = registry_top(ip, opts, &body, &len, &mt, &desc, err);

	if (!ret)
		ret = load_manifest(ip, desc, platform, 0, err);
	json_decref(desc);
	free(body);
	free(mt);
	return ret;
}

/* docker save: manifest.json lists Config and Layers by path. */

/* The manifest.json entry the reference names (NAME:TAG, or the only one). */
static int docker_archive_entry(struct image_priv *ip, json_t *man,
				json_t **out, struct lading_error *err)
{
	json_t *entry = NULL, *e;
	size_t i;

	json_array_foreach(man, i, e) {
		json_t *tags = json_object_get(e, "RepoTags"), *t;
		size_t k;

		if (!ip->pub.ref.ref) {
			entry = entry ? entry : e;
			continue;
		}
		json_array_foreach(tags, k, t)
			if (json_string_value(t) &&
			    !strcmp(json_string_value(t), ip->pub.ref.ref))
				entry = e;
	}
	if (!entry || (!ip->pub.ref.ref && json_array_size(man) > 1))
		return lading_error_set(err, ENOENT, "%s: %s", ip->pub.ref.path,
					ip->pub.ref.ref ? "no image with that tag" :
					"several images: name one (NAME:TAG)");
	*out = entry;
	return 0;
}

/*
 * The config, named by its digest ("<hex>.json" or blobs/sha256/<hex>):
 * checked, kept in the image, parsed into *out.
 */
static int docker_archive_config(struct image_priv *ip, const char *cfg_path,
				 json_t **out, struct lading_error *err)
{
	const char *hex = strrchr(cfg_path, '/') ? strrchr(cfg_path, '/') + 1 : cfg_path;
	char *cbuf;
	size_t clen;
	int ret = read_small(ip, cfg_path, &cbuf, &clen, err);

	if (ret)
		return ret;
	if (strlen(hex) < 64 || !sha256_matches(cbuf, clen, strndupa(hex, 64))) {
		free(cbuf);
		return lading_error_set(err, EBADMSG, "%s: config %s: digest mismatch",
					ip->pub.ref.path, cfg_path);
	}
	*out = parse_json(cbuf, clen, cfg_path, err);
	if (!*out) {
		free(cbuf);
		return -EINVAL;
	}
	ip->pub.config = cbuf;
	ip->pub.config_len = clen;
	ip->pub.config_digest = malloc(7 + 64 + 1);
	if (ip->pub.config_digest)
		snprintf(ip->pub.config_digest, 7 + 64 + 1, "sha256:%.64s", hex);
	return 0;
}

/*
 * Layer i at path: OCI-style archives name layers by digest; legacy ones
 * are uncompressed tars whose digest is the config's diff_id.
 */
static int docker_archive_layer(struct image_priv *ip, size_t i, const char *path,
				const char *diff, struct lading_error *err)
{
	struct lading_image_layer *L = &ip->pub.layers[i];
	const char *want = NULL, *base;

	if (!path)
		return lading_error_set(err, EINVAL, "%s: bad layer %zu",
					ip->pub.ref.path, i + 1);
	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (!strncmp(path, "blobs/sha256/", 13))
		want = base;
	else if (diff && !valid_digest(diff, &want))
		want = NULL;
	if (!want)
		return lading_error_set(err, EINVAL, "%s: layer %s has no digest to "
					"check", ip->pub.ref.path, path);
	L->location = strdup(path);
	L->expected_sha256 = strndup(want, 64);
	L->digest = malloc(7 + 64 + 1);
	L->media_type = strdup("application/vnd.docker.image.rootfs.diff.tar");
	if (!L->location || !L->expected_sha256 || !L->digest || !L->media_type)
		return lading_error_set(err, ENOMEM, "out of memory");
	snprintf(L->digest, 7 + 64 + 1, "sha256:%s", L->expected_sha256);
	return 0;
}

static int open_docker_archive(struct image_priv *ip, struct lading_error *err)
{
	json_t *man, *entry = NULL, *e, *layers, *config = NULL, *diff_ids;
	const char *cfg_path;
	size_t i;
	int ret;

	ret = load_document(ip, "manifest.json", &man, err);
	if (ret)
		return ret;
	ret = docker_archive_entry(ip, man, &entry, err);
	if (ret)
		goto out;
	cfg_path = json_string_value(json_object_get(entry, "Config"));
	layers = json_object_get(entry, "Layers");
	if (!cfg_path || !json_is_array(layers)) {
		ret = lading_error_set(err, EINVAL, "%s: manifest.json lacks Config "
				       "or Layers", ip->pub.ref.path);
		goto out;
	}
	ret = docker_archive_config(ip, cfg_path, &config, err);
	if (ret)
		goto out;
	set_platform(ip, config);
	diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	ip->pub.nlayers = json_array_size(layers);
	ip->pub.layers = calloc(ip->pub.nlayers ? ip->pub.nlayers : 1,
				sizeof(*ip->pub.layers));
	ret = ip->pub.layers ? 0 : lading_error_set(err, ENOMEM, "out of memory");
	json_array_foreach(layers, i, e) {
		if (ret)
			break;
		ret = docker_archive_layer(ip, i, json_string_value(e),
					   json_string_value(json_array_get(diff_ids, i)),
					   err);
	}
	if (!ret)
		ret = set_diff_ids(ip, config, err);
out:
	json_decref(config);
	json_decref(man);
	return ret;
}

static int open_dir(struct image_priv *ip, const char *const *files, size_t n,
		    struct lading_error *err)
{
	size_t i;

	if (!n)
		return lading_error_set(err, EINVAL, "dir:%s needs --layer FILE "
					"for each layer, lowest first", ip->pub.ref.path);
	ip->pub.layers = calloc(n, sizeof(*ip->pub.layers));
	if (!ip->pub.layers)
		return lading_error_set(err, ENOMEM, "out of memory");
	ip->pub.nlayers = n;
	for (i = 0; i < n; i++) {
		struct lading_image_layer *L = &ip->pub.layers[i];

		L->location = files[i][0] == '/' ? strdup(files[i]) :
			      lading_path_join(ip->pub.ref.path, files[i]);
		L->media_type = strdup("application/vnd.oci.image.layer.v1.tar");
		if (!L->location || !L->media_type)
			return lading_error_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

void lading_image_host_platform(char *out, size_t len)
{
	const char *os, *arch;

	host_platform(&os, &arch);
	snprintf(out, len, "%s/%s", os, arch);
}

int lading_image_open(const char *src, const char *platform,
		      const char *const *layer_files, size_t nlayer_files,
		      const struct lading_registry_opts *registry,
		      struct lading_image **out, struct lading_error *err)
{
	struct image_priv *ip = calloc(1, sizeof(*ip));
	const char *os, *arch;
	char host[64];
	int ret;

	if (!ip)
		return lading_error_set(err, ENOMEM, "out of memory");
	if (!platform) {
		host_platform(&os, &arch);
		snprintf(host, sizeof(host), "%s/%s", os, arch);
		platform = host;
	}
	ret = lading_image_ref_parse(src, &ip->pub.ref, err);
	if (!ret && (ip->pub.ref.transport == LADING_TRANSPORT_OCI_ARCHIVE ||
		     ip->pub.ref.transport == LADING_TRANSPORT_DOCKER_ARCHIVE))
		ret = load_members(ip, err);
	if (!ret) {
		switch (ip->pub.ref.transport) {
		case LADING_TRANSPORT_OCI:
		case LADING_TRANSPORT_OCI_ARCHIVE:
			ret = open_oci(ip, platform, err);
			break;
		case LADING_TRANSPORT_DOCKER_ARCHIVE:
			ret = open_docker_archive(ip, err);
			break;
		case LADING_TRANSPORT_DOCKER:
			ret = open_registry(ip, platform, registry, err);
			break;
		default:
			ret = open_dir(ip, layer_files, nlayer_files, err);
		}
	}
	if (ret) {
		lading_image_close(&ip->pub);
		return ret;
	}
	*out = &ip->pub;
	return 0;
}

void lading_image_close(struct lading_image *img)
{
	struct image_priv *ip = (struct image_priv *)img;
	size_t i;

	if (!img)
		return;
	for (i = 0; i < img->nlayers; i++) {
		free(img->layers[i].digest);
		free(img->layers[i].media_type);
		free(img->layers[i].location);
		free(img->layers[i].expected_sha256);
		free(img->layers[i].diff_id);
	}
	for (i = 0; i < ip->nmembers; i++) {
		free(ip->members[i].name);
		free(ip->members[i].data);
	}
	free(ip->members);
	lading_registry_close(ip->registry);
	free(img->layers);
	free(img->config);
	free(img->config_digest);
	free(img->os);
	free(img->arch);
	free(img->variant);
	free(img->manifest_digest);
	free(img->manifest_media_type);
	lading_image_ref_free(&img->ref);
	free(ip);
}

/* ---- listing what a reference names ---------------------------------- */

static bool is_index_type(const char *mt, json_t *doc)
{
	if (mt && *mt)
		return !strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST);
	return json_is_array(json_object_get(doc, "manifests"));
}

/* "os/arch[/variant]" of an index entry that is an image manifest. */
static char *entry_platform(json_t *d)
{
	const char *mt = json_string_value(json_object_get(d, "mediaType"));
	json_t *p = json_object_get(d, "platform");
	const char *os = json_string_value(json_object_get(p, "os"));
	const char *arch = json_string_value(json_object_get(p, "architecture"));
	const char *var = json_string_value(json_object_get(p, "variant"));
	char buf[256];

	/* attestations and other artifacts sit under "unknown/unknown" */
	if (!mt || (strcmp(mt, MT_OCI_MANIFEST) && strcmp(mt, MT_DOCKER_MANIFEST)) ||
	    !os || !arch || !strcmp(os, "unknown") || json_object_get(d, "artifactType"))
		return NULL;
	if (var && *var)
		snprintf(buf, sizeof(buf), "%s/%s/%s", os, arch, var);
	else
		snprintf(buf, sizeof(buf), "%s/%s", os, arch);
	return strdup(buf);
}

static int add_entry(struct image_priv *ip, struct lading_image_list *l,
		     json_t *d, bool in_index, struct lading_error *err)
{
	struct lading_image_entry *n = realloc(l->entries, (l->n + 1) * sizeof(*n)), *e;
	const char *dg = json_string_value(json_object_get(d, "digest")), *hex;
	json_t *copy = json_deep_copy(d);

	if (n)
		l->entries = n;
	if (!n || !copy) {
		json_decref(copy);
		return lading_error_set(err, ENOMEM, "out of memory");
	}
	if (!valid_digest(dg, &hex)) {
		json_decref(copy);
		return lading_error_set(err, EINVAL, "%s: a manifest descriptor has "
					"a bad digest", ip->pub.ref.path);
	}
	/* a layout's tag is not part of the descriptor elsewhere */
	json_object_del(json_object_get(copy, "annotations"),
			"org.opencontainers.image.ref.name");
	if (!json_object_size(json_object_get(copy, "annotations")))
		json_object_del(copy, "annotations");
	e = &l->entries[l->n];
	e->descriptor = json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT);
	e->digest = strdup(dg);
	e->platform = in_index ? entry_platform(d) : NULL;
	json_decref(copy);
	l->n++;
	if (!e->descriptor || !e->digest)
		return lading_error_set(err, ENOMEM, "out of memory");
	return 0;
}

/* The top descriptor's document: an index's entries, or itself. */
static int list_from(struct image_priv *ip, json_t *top, const char *body,
		     size_t len, const char *mt, struct lading_image_list *l,
		     struct lading_error *err)
{
	json_t *doc = parse_json(body, len, ip->pub.ref.path, err), *d;
	size_t i;
	int ret = 0;

	if (!doc)
		return -EINVAL;
	l->is_index = is_index_type(mt, doc);
	if (!l->is_index)
		ret = add_entry(ip, l, top, false, err);
	else if (!json_array_size(json_object_get(doc, "manifests")))
		ret = lading_error_set(err, EINVAL, "%s: index lists no manifests",
				       ip->pub.ref.path);
	json_array_foreach(l->is_index ? json_object_get(doc, "manifests") : NULL, i, d) {
		if (!ret)
			ret = add_entry(ip, l, d, true, err);
	}
	json_decref(doc);
	return ret;
}

static int list_registry(struct image_priv *ip, const struct lading_registry_opts *opts,
			 struct lading_image_list *l, struct lading_error *err)
{
	char *body, *mt;
	size_t len;
	json_t *top;
	int ret = registry_top(ip, opts, &body, &len, &mt, &top, err);

	if (!ret)
		ret = list_from(ip, top, body, len, mt, l, err);
	json_decref(top);
	free(body);
	free(mt);
	return ret;
}

static int list_oci(struct image_priv *ip, struct lading_image_list *l,
		    struct lading_error *err)
{
	json_t *index, *desc;
	uint64_t size;
	char *body;
	size_t len;
	int ret;

	ret = load_document(ip, "index.json", &index, err);
	if (ret)
		return ret;
	ret = pick_from_index(ip, index, ip->pub.ref.ref, NULL, &desc, err);
	if (!ret)
		ret = desc_size(ip, desc, "manifest", SMALL_MAX, &size, err);
	if (!ret)
		ret = read_blob(ip, json_string_value(json_object_get(desc, "digest")),
				(json_int_t)size, &body, &len, err);
	if (!ret) {
		ret = list_from(ip, desc, body, len, json_string_value(
				json_object_get(desc, "mediaType")), l, err);
		free(body);
	}
	json_decref(index);
	return ret;
}

int lading_image_list_open(const char *src, const struct lading_registry_opts *registry,
			   struct lading_image_list *out, struct lading_error *err)
{
	struct lading_registry_opts none = { 0 };
	struct image_priv *ip = calloc(1, sizeof(*ip));
	int ret;

	memset(out, 0, sizeof(*out));
	if (!ip)
		return lading_error_set(err, ENOMEM, "out of memory");
	ret = lading_image_ref_parse(src, &ip->pub.ref, err);
	if (!ret && ip->pub.ref.transport == LADING_TRANSPORT_DOCKER)
		ret = list_registry(ip, registry ? registry : &none, out, err);
	else if (!ret && ip->pub.ref.transport == LADING_TRANSPORT_OCI)
		ret = list_oci(ip, out, err);
	else if (!ret)
		ret = lading_error_set(err, EINVAL, "%s: expected docker://HOST/REPO"
				       "[:TAG|@DIGEST] or oci:DIR[:REF]", src);
	lading_image_close(&ip->pub);
	if (ret)
		lading_image_list_free(out);
	return ret;
}

void lading_image_list_free(struct lading_image_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->entries[i].descriptor);
		free(l->entries[i].digest);
		free(l->entries[i].platform);
	}
	free(l->entries);
	memset(l, 0, sizeof(*l));
}

bool lading_image_entry_matches(const struct lading_image_entry *e, const char *want)
{
	json_t *d = json_loads(e->descriptor, 0, NULL);
	bool ok = d && e->platform && lading_image_platform_matches(d, want);

	json_decref(d);
	return ok;
}

/* ---- layer streams --------------------------------------------------- */

struct layer_reader {
	int fd;
	struct archive *a;
	const char *name;	/* the layer, for messages */
	uint64_t size, pos;	/* the descriptor's size; bytes read */
	bool sized;
	struct lading_error err;
};

/*
 * At most the descriptor's size: a blob that goes on (or stops short)
 * fails here rather than being read for ever.
 */
static ssize_t read_layer(void *ud, void *buf, size_t len)
{
	struct layer_reader *lr = ud;
	ssize_t n;

	if (lr->sized && len > lr->size - lr->pos)
		len = (size_t)(lr->size - lr->pos);
	if (!len && lr->sized) {
		char extra;

		/* at the size: the blob must end here */
		if (lr->a)
			n = archive_read_data(lr->a, &extra, 1);
		else
			do
				n = read(lr->fd, &extra, 1);
			while (n < 0 && errno == EINTR);
		if (n > 0)
			return lading_error_set(&lr->err, EFBIG, "layer %s: more "
						"than the %llu bytes its descriptor "
						"gives", lr->name,
						(unsigned long long)lr->size);
		return 0;
	}
	if (lr->a) {
		n = archive_read_data(lr->a, buf, len);
		if (n < 0)
			return lading_error_set(&lr->err, EIO, "layer %s: %s", lr->name,
						archive_error_string(lr->a));
	} else {
		do
			n = read(lr->fd, buf, len);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return lading_error_set(&lr->err, errno, "layer %s: %s",
						lr->name, strerror(errno));
	}
	lr->pos += (uint64_t)n;
	if (!n && lr->sized && lr->pos < lr->size)
		return lading_error_set(&lr->err, EIO, "layer %s: %llu bytes, its "
					"descriptor gives %llu", lr->name,
					(unsigned long long)lr->pos,
					(unsigned long long)lr->size);
	return n;
}

int lading_image_layer_open(struct lading_image *img, size_t i,
			    lading_read_fn *fn, void **ud,
			    struct lading_error *err)
{
	const struct lading_image_layer *L = &img->layers[i];
	struct layer_reader *lr = calloc(1, sizeof(*lr));
	struct archive_entry *e;
	struct stat st;
	char *path = NULL;
	int r;

	if (!lr)
		return lading_error_set(err, ENOMEM, "out of memory");
	lr->fd = -1;
	lr->name = L->digest ? L->digest : L->location;
	lr->size = L->size;
	lr->sized = L->sized;
	*fn = read_layer;
	*ud = lr;
	switch (img->ref.transport) {
	case LADING_TRANSPORT_DOCKER:
		free(lr);
		*ud = NULL;
		return lading_registry_blob_stream(((struct image_priv *)img)->registry,
						   L->digest, L->sized ? L->size :
						   UINT64_MAX, fn, ud, err);
	case LADING_TRANSPORT_OCI:
		path = lading_path_join(img->ref.path, L->location);
		if (!path)
			return lading_error_set(err, ENOMEM, "out of memory");
		lr->fd = open_regular(path, &st);
		if (lr->fd == -EINVAL)
			r = lading_error_set(err, EINVAL, "layer %s: %s: not a regular "
					     "file", lr->name, path);
		else if (lr->fd < 0)
			r = lading_error_set(err, -lr->fd, "layer %s: %s: %s", lr->name,
					     path, strerror(-lr->fd));
		else if (L->sized && (uint64_t)st.st_size != L->size)
			r = lading_error_set(err, EBADMSG, "layer %s: %s is %llu bytes, "
					     "its descriptor gives %llu", lr->name,
					     path, (unsigned long long)st.st_size,
					     (unsigned long long)L->size);
		else
			r = 0;
		free(path);
		return r;
	case LADING_TRANSPORT_DIR:
		/* files named on the command line: a pipe is the user's choice */
		lr->fd = open(L->location, O_RDONLY | O_CLOEXEC);
		if (lr->fd < 0)
			return lading_error_set(err, errno, "layer %s: %s",
						L->location, strerror(errno));
		return 0;
	default:
		break;
	}
	/* archives: a pass to the member, then stream its data */
	lr->a = archive_read_new();
	if (!lr->a)
		return lading_error_set(err, ENOMEM, "out of memory");
	archive_read_support_filter_all(lr->a);
	archive_read_support_format_tar(lr->a);
	archive_read_support_format_gnutar(lr->a);
	if (archive_read_open_filename(lr->a, img->ref.path, 1 << 20) != ARCHIVE_OK)
		return lading_error_set(err, EINVAL, "%s: %s", img->ref.path,
					archive_error_string(lr->a));
	while ((r = archive_read_next_header(lr->a, &e)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN) {
		const char *name = archive_entry_pathname(e);

		if (name && name[0] == '.' && name[1] == '/')
			name += 2;
		if (!name || strcmp(name, L->location))
			continue;
		if (archive_entry_filetype(e) != AE_IFREG)
			return lading_error_set(err, EINVAL, "%s: layer %s (%s) is not "
						"a regular file", img->ref.path,
						lr->name, L->location);
		if (L->sized && (!archive_entry_size_is_set(e) ||
				 (uint64_t)archive_entry_size(e) != L->size))
			return lading_error_set(err, EBADMSG, "%s: layer %s is %lld "
						"bytes, its descriptor gives %llu",
						img->ref.path, lr->name,
						(long long)archive_entry_size(e),
						(unsigned long long)L->size);
		return 0;
	}
	return lading_error_set(err, ENOENT, "%s: layer %s (%s) is missing",
				img->ref.path, L->digest, L->location);
}

const char *lading_image_layer_error(struct lading_image *img, void *ud)
{
	struct layer_reader *lr = ud;

	if (img->ref.transport == LADING_TRANSPORT_DOCKER)
		return lading_registry_blob_stream_error(ud);
	return lr && lr->err.msg[0] ? lr->err.msg : NULL;
}

void lading_image_layer_close(struct lading_image *img, void *ud)
{
	struct layer_reader *lr = ud;

	if (img->ref.transport == LADING_TRANSPORT_DOCKER) {
		lading_registry_blob_stream_close(ud);
		return;
	}
	if (!lr)
		return;
	if (lr->a)
		archive_read_free(lr->a);
	if (lr->fd >= 0)
		close(lr->fd);
	free(lr);
}

/* ---- documents in memory (the fuzz target's way in) ------------------- */

int lading_image_parse_document(const char *kind, const void *buf, size_t len,
				struct lading_error *err)
{
	struct image_priv *ip = calloc(1, sizeof(*ip));
	json_t *j = NULL, *desc = NULL, *cfg = NULL;
	const char *hex;
	uint64_t size;
	bool is_index;
	char *copy;
	int ret;

	if (!ip)
		return lading_error_set(err, ENOMEM, "out of memory");
	ip->pub.ref.transport = LADING_TRANSPORT_OCI;
	ip->pub.ref.path = strdup("(memory)");
	if (!ip->pub.ref.path) {
		ret = lading_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	j = parse_json(buf, len, kind, err);
	if (!j) {
		ret = -EINVAL;
		goto out;
	}
	if (!strcmp(kind, "config")) {
		/* a few layers, so that the diff_ids are looked at */
		ip->pub.layers = calloc(4, sizeof(*ip->pub.layers));
		ip->pub.nlayers = ip->pub.layers ? 4 : 0;
		copy = malloc(len + 1);
		if (!copy) {
			ret = lading_error_set(err, ENOMEM, "out of memory");
			goto out;
		}
		memcpy(copy, buf, len);
		copy[len] = '\0';
		ret = use_config(ip, copy, len, "sha256:" "0000000000000000"
				 "000000000000000000000000000000000000000000000000", err);
		if (ret)
			free(copy);
		goto out;
	}
	if (!strcmp(kind, "manifest")) {
		ret = check_manifest(ip, j, NULL, "(memory)", &cfg, &is_index, err);
		if (ret || !is_index)
			goto out;
	} else if (strcmp(kind, "index")) {
		ret = lading_error_set(err, EINVAL, "unknown kind %s", kind);
		goto out;
	}
	/* an index: the descriptor lading_image_open() would load next */
	ret = pick_from_index(ip, j, NULL, "linux/amd64", &desc, err);
	if (!ret && !valid_digest(json_string_value(json_object_get(desc, "digest")),
				  &hex))
		ret = lading_error_set(err, EINVAL, "bad manifest digest");
	if (!ret)
		ret = desc_size(ip, desc, "manifest", SMALL_MAX, &size, err);
out:
	json_decref(j);
	lading_image_close(&ip->pub);
	return ret;
}
