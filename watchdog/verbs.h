/* SPDX-License-Identifier: MIT */
#pragma once

/* One entry point per verb (perf's builtin-*.c): cmd-<verb>.c. Each returns the process exit
 * status: 0 success, 1 the work failed, 2 bad usage or configuration (EXIT_* below). */

#include <sys/types.h>

#define EXIT_OK 0
#define EXIT_FAILED 1
#define EXIT_USAGE 2

int cmd_dump(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_incidents(int argc, char **argv);
int cmd_watch(int argc, char **argv);

/* For verbs whose only option is -c CONFIG (and --help): parses argv into *config (left as is
 * when not given). Returns 1 to go on, 0 when help was printed, -EINVAL after one usage line. */
int parse_config_argv(const char *verb, int argc, char **argv, void (*help)(void), const char **config);

/* Shared by the verbs: strict decimal pid (1 .. pid_max); -EINVAL otherwise. */
int parse_pid(const char *s, pid_t *ret);

/* The process's command line with NULs turned into spaces, bounded to len-1 bytes; "" when
 * it cannot be read. */
void proc_cmdline(pid_t pid, char *buf, size_t len);
