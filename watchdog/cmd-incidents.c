/* SPDX-License-Identifier: MIT */
/* `pyspy-watch incidents [list | show ID | path ID]`: the bundles under state_dir/incidents/,
 * as coredumpctl shows coredumps. Each bundle's manifest.json is the record; a directory
 * without a readable one (still being written, left by a crash, not ours) is skipped with one
 * "..., ignoring." line on stderr, as coredumpctl skips entries without mandatory fields.
 *
 * An empty list prints "No incidents." and exits 0, unlike coredumpctl's exit 1: "nothing hung"
 * is a successful answer, and scripts and monitoring checks should not read it as a failure. */
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config.h"
#include "escape.h"
#include "incident.h"
#include "log.h"
#include "verbs.h"

/* Candidates named in the "ambiguous" message; the rest is counted. */
#define AMBIGUOUS_SHOWN_MAX 8

typedef struct Listing {
        IncidentEntry *entries;
        char **names;              /* directory names: the authoritative IDs */
        size_t n;
} Listing;

static void listing_done(Listing *l) {
        for (size_t i = 0; i < l->n; i++) {
                incident_entry_done(&l->entries[i]);
                free(l->names[i]);
        }
        free(l->entries);
        free(l->names);
        *l = (Listing) {};
}

static void help(void) {
        printf("Usage: pyspy-watch incidents [list | show ID | path ID] [OPTIONS...]\n\n"
               "List the incident bundles the daemon wrote, show one's summary, or print its directory.\n"
               "ID may be abbreviated to a unique prefix.\n\n"
               "Commands:\n"
               "  list               One line per incident, oldest first (the default)\n"
               "  show ID            Print the incident's summary.txt\n"
               "  path ID            Print the incident's bundle directory\n\n"
               "Options:\n"
               "  -c --config CONFIG Read state_dir from CONFIG (default " CONFIG_DEFAULT_PATH ")\n"
               "     --state-dir DIR Look in DIR/incidents instead (no configuration read)\n"
               "  -j --json          list: print a JSON array\n"
               "  -h --help          Show this help\n"
               "\nSee the pyspy-watch(1) man page for details.\n");
}

static int entry_compare(const void *a, const void *b, void *userdata) {
        const Listing *l = userdata;
        size_t i = *(const size_t *) a, j = *(const size_t *) b;

        if (l->entries[i].detected_at != l->entries[j].detected_at)
                return l->entries[i].detected_at < l->entries[j].detected_at ? -1 : 1;
        return strcmp(l->names[i], l->names[j]);
}

/* Reads every complete bundle; warns once per skipped directory. A missing incidents/ is an
 * empty list. */
static int listing_load(const char *incidents, Listing *ret) {
        _cleanup_close_ int fd = -EBADF;
        Listing l = {};
        struct dirent *de;
        int r = 0;

        fd = open(incidents, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        _cleanup_(closedirp) DIR *d = NULL;
        r = dir_open_fd(fd, &d);
        if (r < 0)
                return r;
        while ((de = readdir(d))) {
                _cleanup_(incident_entry_done) IncidentEntry e = {};
                _cleanup_close_ int bfd = -EBADF;
                const char *name = de->d_name;

                if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                        continue;
                if (strncmp(name, INCIDENT_TMP_PREFIX, strlen(INCIDENT_TMP_PREFIX)) == 0) {
                        log_warning("Skipping %s/%s: an incomplete bundle (being written, or left by a crash), ignoring.",
                                    incidents, name);
                        continue;
                }
                if (!incident_id_parse(name, NULL, NULL)) {
                        log_warning("Skipping %s/%s: not an incident bundle name, ignoring.", incidents, name);
                        continue;
                }
                bfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (bfd < 0) {
                        log_warning("Skipping %s/%s: %s, ignoring.", incidents, name,
                                    errno == ENOTDIR || errno == ELOOP ? "not a directory" : strerror(errno));
                        continue;
                }
                r = incident_manifest_read(bfd, &e);
                if (r == -ENOENT) {
                        log_warning("Skipping %s/%s: no manifest.json (not a complete bundle), ignoring.", incidents, name);
                        continue;
                }
                if (r < 0) {
                        log_warning("Skipping %s/%s: manifest.json %s, ignoring.", incidents, name,
                                    r == -EBADMSG ? "malformed or without mandatory fields" : strerror(-r));
                        continue;
                }
                IncidentEntry *ne = realloc(l.entries, (l.n + 1) * sizeof(*ne));
                if (ne)
                        l.entries = ne;
                char **nn = realloc(l.names, (l.n + 1) * sizeof(*nn));
                if (nn)
                        l.names = nn;
                char *copy = strdup(name);
                if (!ne || !nn || !copy) {
                        free(copy);
                        listing_done(&l);
                        return -ENOMEM;
                }
                l.entries[l.n] = e;
                e = (IncidentEntry) {};
                l.names[l.n++] = copy;
        }

        /* Sort through an index so entries and names stay paired. */
        if (l.n > 1) {
                _cleanup_free_ size_t *idx = calloc(l.n, sizeof(size_t));
                _cleanup_free_ IncidentEntry *es = calloc(l.n, sizeof(IncidentEntry));
                _cleanup_free_ char **ns = calloc(l.n, sizeof(char *));
                if (!idx || !es || !ns) {
                        listing_done(&l);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < l.n; i++)
                        idx[i] = i;
                qsort_r(idx, l.n, sizeof(size_t), entry_compare, &l);
                for (size_t i = 0; i < l.n; i++) {
                        es[i] = l.entries[idx[i]];
                        ns[i] = l.names[idx[i]];
                }
                memcpy(l.entries, es, l.n * sizeof(IncidentEntry));
                memcpy(l.names, ns, l.n * sizeof(char *));
        }
        *ret = l;
        return 0;
}

/* A cell as the terminal will show it: escaped like every string that came from a target. */
static char *cell(const char *s) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        term_write_string(f, s ? s : "-");
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static int print_table(const Listing *l) {
        enum { C_TIME, C_WATCH, C_PID, C_THREAD, C_STUCK, C_FRAME, _C_MAX };
        static const char *const heads[_C_MAX] = { "TIME", "WATCH", "PID", "THREAD", "STUCK", "FRAME" };
        size_t width[_C_MAX];
        char ***rows = calloc(l->n, sizeof(char **));
        int r = 0;

        if (!rows)
                return -ENOMEM;
        for (size_t c = 0; c < _C_MAX; c++)
                width[c] = strlen(heads[c]);
        for (size_t i = 0; i < l->n && r == 0; i++) {
                const IncidentEntry *e = &l->entries[i];
                char t[64], pid[16], thread[96], stuck[32];
                time_t s = (time_t) (e->detected_at / USEC_PER_SEC);
                struct tm tm;

                if (!localtime_r(&s, &tm) || strftime(t, sizeof(t), "%a %Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                        snprintf(t, sizeof(t), "?");
                snprintf(pid, sizeof(pid), "%d", (int) e->pid);
                if (e->thread)
                        snprintf(thread, sizeof(thread), "%.80s", e->thread);
                else if (e->tid > 0)
                        snprintf(thread, sizeof(thread), "%d", (int) e->tid);
                else
                        snprintf(thread, sizeof(thread), "-");
                snprintf(stuck, sizeof(stuck), "%.0fs", e->stuck_seconds);

                rows[i] = calloc(_C_MAX, sizeof(char *));
                if (!rows[i]) {
                        r = -ENOMEM;
                        break;
                }
                const char *raw[_C_MAX] = { t, e->watch, pid, thread, stuck, e->frame };
                for (size_t c = 0; c < _C_MAX; c++) {
                        rows[i][c] = cell(raw[c]);
                        if (!rows[i][c]) {
                                r = -ENOMEM;
                                break;
                        }
                        width[c] = MAX(width[c], strlen(rows[i][c]));
                }
        }
        if (r == 0) {
                for (size_t c = 0; c < _C_MAX; c++)
                        if (c + 1 < _C_MAX)
                                printf(c == C_PID || c == C_STUCK ? "%*s " : "%-*s ", (int) width[c], heads[c]);
                        else
                                printf("%s\n", heads[c]);
                for (size_t i = 0; i < l->n; i++)
                        for (size_t c = 0; c < _C_MAX; c++) {
                                if (c + 1 == _C_MAX)
                                        printf("%s\n", rows[i][c]);
                                else if (c == C_PID || c == C_STUCK)   /* numbers: right-aligned, as ps does */
                                        printf("%*s ", (int) width[c], rows[i][c]);
                                else
                                        printf("%-*s ", (int) width[c], rows[i][c]);
                        }
        }
        for (size_t i = 0; i < l->n; i++) {
                if (!rows[i])
                        continue;
                for (size_t c = 0; c < _C_MAX; c++)
                        free(rows[i][c]);
                free(rows[i]);
        }
        free(rows);
        return r;
}

static void print_json(const Listing *l, const char *incidents) {
        char t[32];

        fputs("[", stdout);
        for (size_t i = 0; i < l->n; i++) {
                const IncidentEntry *e = &l->entries[i];
                _cleanup_free_ char *path = NULL;

                fputs(i ? ",\n  {" : "\n  {", stdout);
                fputs("\"id\": ", stdout);
                json_write_string(stdout, l->names[i]);
                printf(", \"time\": \"%s\", \"time_usec\": %llu, \"watch\": ",
                       incident_format_utc(e->detected_at, t, sizeof(t)), (unsigned long long) e->detected_at);
                json_write_string(stdout, e->watch);
                printf(", \"pid\": %d, \"tid\": ", (int) e->pid);
                if (e->tid > 0)
                        printf("%d", (int) e->tid);
                else
                        fputs("null", stdout);
                fputs(", \"thread\": ", stdout);
                json_write_string(stdout, e->thread);
                printf(", \"stuck_seconds\": %.3f, \"frame\": ", e->stuck_seconds);
                json_write_string(stdout, e->frame);
                fputs(", \"reason\": ", stdout);
                json_write_string(stdout, e->reason);
                fputs(", \"path\": ", stdout);
                if (asprintf(&path, "%s/%s", incidents, l->names[i]) < 0)
                        path = NULL;
                json_write_string(stdout, path);
                fputs("}", stdout);
        }
        fputs(l->n ? "\n]\n" : "]\n", stdout);
}

/* An exact ID, else the one ID starting with prefix. Prints the failure. */
static int resolve(const Listing *l, const char *prefix, size_t *ret) {
        size_t n = 0, found = 0, len = strlen(prefix);

        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->names[i], prefix) == 0) {
                        *ret = i;
                        return 0;
                }
        for (size_t i = 0; i < l->n; i++)
                if (strncmp(l->names[i], prefix, len) == 0) {
                        found = i;
                        n++;
                }
        if (n == 1 && len > 0) {
                *ret = found;
                return 0;
        }
        if (n == 0) {
                log_error("no incident matches '%s': run 'pyspy-watch incidents list' for the IDs", prefix);
                return -ENOENT;
        }

        /* One line naming the candidates, so the user can pick a longer prefix. */
        char msg[2048];
        size_t k = 0, shown = 0;
        for (size_t i = 0; i < l->n && shown < AMBIGUOUS_SHOWN_MAX; i++)
                if (strncmp(l->names[i], prefix, len) == 0) {
                        int m = snprintf(msg + k, sizeof(msg) - k, "%s%s", shown ? ", " : "", l->names[i]);
                        if (m < 0 || (size_t) m >= sizeof(msg) - k)
                                break;
                        k += (size_t) m;
                        shown++;
                }
        if (shown < n)
                snprintf(msg + k, sizeof(msg) - k, " and %zu more", n - shown);
        log_error("incident ID '%s' is ambiguous: it matches %s; give more of the ID", prefix, msg);
        return -EEXIST;
}

static int show_summary(const char *incidents, const char *name) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        char buf[16384];

        if (asprintf(&path, "%s/%s/summary.txt", incidents, name) < 0)
                return log_error_errno(-ENOMEM, "out of memory");
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(-errno, "cannot read %s: %s", path, strerror(errno));
        for (;;) {
                ssize_t k = read(fd, buf, sizeof(buf));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(-errno, "cannot read %s: %s", path, strerror(errno));
                }
                if (k == 0)
                        break;
                if (fwrite(buf, 1, (size_t) k, stdout) != (size_t) k)
                        return log_error_errno(-EIO, "writing the output failed: %s", strerror(errno));
        }
        return 0;
}

int cmd_incidents(int argc, char **argv) {
        enum { ARG_STATE_DIR = 0x100 };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *arg_config = CONFIG_DEFAULT_PATH, *arg_state_dir = NULL;
        bool arg_json = false;
        int c, r;

        opterr = 0;
        optind = 1;
        /* No "+" in optstring: options may follow the command ("incidents show ID --json"). */
        while ((c = getopt_long(argc, argv, ":c:jh", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_STATE_DIR:
                        if (!*optarg) {
                                log_error("incidents: --state-dir needs a directory");
                                return EXIT_USAGE;
                        }
                        arg_state_dir = optarg;
                        break;
                case 'j':
                        arg_json = true;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                case ':':
                        log_error("incidents: option '%s' needs a value: see 'pyspy-watch incidents --help'", argv[optind - 1]);
                        return EXIT_USAGE;
                default:
                        log_error("incidents: unknown option '%s': see 'pyspy-watch incidents --help'", argv[optind - 1]);
                        return EXIT_USAGE;
                }
        }

        const char *verb = optind < argc ? argv[optind++] : "list";
        const char *id = NULL;
        if (strcmp(verb, "list") == 0) {
                if (optind < argc) {
                        log_error("incidents: unexpected argument '%s': 'list' takes none", argv[optind]);
                        return EXIT_USAGE;
                }
        } else if (strcmp(verb, "show") == 0 || strcmp(verb, "path") == 0) {
                if (optind >= argc) {
                        log_error("incidents: '%s' needs an incident ID: run 'pyspy-watch incidents list' for them", verb);
                        return EXIT_USAGE;
                }
                id = argv[optind++];
                if (optind < argc) {
                        log_error("incidents: unexpected argument '%s': '%s' takes one ID", argv[optind], verb);
                        return EXIT_USAGE;
                }
        } else {
                log_error("incidents: unknown command '%s': use list, show ID or path ID", verb);
                return EXIT_USAGE;
        }

        _cleanup_(config_freep) Config *config = NULL;
        if (!arg_state_dir) {
                ConfigErrors errors = {};
                r = config_load(arg_config, &config, &errors);
                if (r < 0) {
                        if (errors.n == 0)
                                log_error("incidents: cannot read %s: %s: pass -c CONFIG, or --state-dir DIR",
                                          arg_config, strerror(-r));
                        for (size_t i = 0; i < errors.n; i++)
                                if (errors.errors[i].line > 0)
                                        log_error("%s:%u: %s", arg_config, errors.errors[i].line, errors.errors[i].message);
                                else
                                        log_error("%s: %s", arg_config, errors.errors[i].message);
                        config_errors_done(&errors);
                        return EXIT_USAGE;
                }
                config_errors_done(&errors);
                arg_state_dir = config->state_dir;
        }

        _cleanup_free_ char *incidents = NULL;
        _cleanup_(listing_done) Listing l = {};
        if (asprintf(&incidents, "%s/incidents", arg_state_dir) < 0) {
                log_error("incidents: out of memory");
                return EXIT_FAILED;
        }
        r = listing_load(incidents, &l);
        if (r < 0) {
                log_error("incidents: cannot read %s: %s%s", incidents, strerror(-r),
                          r == -EACCES ? ": run as root" : "");
                return EXIT_FAILED;
        }

        if (strcmp(verb, "list") == 0) {
                if (arg_json)
                        print_json(&l, incidents);
                else if (l.n == 0)
                        printf("No incidents.\n");
                else if (print_table(&l) < 0) {
                        log_error("incidents: out of memory");
                        return EXIT_FAILED;
                }
        } else {
                size_t i;
                if (resolve(&l, id, &i) < 0)
                        return EXIT_FAILED;
                if (strcmp(verb, "path") == 0)
                        printf("%s/%s\n", incidents, l.names[i]);
                else if (show_summary(incidents, l.names[i]) < 0)
                        return EXIT_FAILED;
        }
        if (fflush(stdout) != 0 || ferror(stdout)) {
                log_error("incidents: writing the output failed: %s", strerror(errno));
                return EXIT_FAILED;
        }
        return EXIT_OK;
}
