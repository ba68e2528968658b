/* SPDX-License-Identifier: MIT */
/*
 * How the build options reach the store and the source (not installed):
 * the one place mkimage, convert and verify --source turn them into
 * module parameters.
 */
#ifndef LADING_BUILD_OPTIONS_H
#define LADING_BUILD_OPTIONS_H

#include <lading/build.h>
#include <lading/source.h>
#include <lading/store.h>

/* The store and source parameters the options set (other fields kept). */
void lading_build_options_store(const struct lading_build_options *o,
				struct lading_store_params *sp);
void lading_build_options_source(const struct lading_build_options *o,
				 struct lading_source_params *src);

#endif
