/* SPDX-License-Identifier: MIT */
#pragma once

/* The program's voice on stderr. Only verbs and the daemon loop call these, once per error:
 * one line, naming the cause and, where there is one, the fix. */

#include "macro.h"

void log_error(const char *fmt, ...) _printf_(1, 2);
void log_warning(const char *fmt, ...) _printf_(1, 2);
void log_info(const char *fmt, ...) _printf_(1, 2);

/* log_error() and return r: `return log_error_errno(r, "...")`. */
#define log_error_errno(r, ...) ({ log_error(__VA_ARGS__); (r); })
