// SPDX-License-Identifier: MIT
/* Enum <-> name tables: the one lookup both directions use. */
#include <errno.h>
#include <string.h>
#include <lading/util.h>

const char *lading_enum_name(const struct lading_enum_name *t, int value)
{
	for (; t->name; t++)
		if (t->value == value)
			return t->name;
	return "?";
}

int lading_enum_parse(const struct lading_enum_name *t, const char *s, int *value)
{
	for (; t->name; t++)
		if (!strcmp(t->name, s)) {
			*value = t->value;
			return 0;
		}
	return -EINVAL;
}
