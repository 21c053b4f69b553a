/* SPDX-License-Identifier: MIT */
#pragma once

/* The daemon's alerts (SPEC.md, "Journal alerts"): one journal entry per event, sent with
 * sd_journal_sendv(), with a fixed MESSAGE_ID per event kind (explained by
 * etc/pyspy-watch.catalog and the README's MESSAGE_ID table) and PYSPY_* fields. With no
 * journal socket the same event goes to stderr as one line. */

#include <stdio.h>
#include <sys/types.h>
#include <systemd/sd-id128.h>

#include "macro.h"

/* Made once with `journalctl --new-id128` and never to be changed: users filter on them
 * (`journalctl MESSAGE_ID=...`) and the catalog is keyed by them. Twins as in systemd's
 * sd-messages.h: the sd_id128_t for code, the _STR for "MESSAGE_ID=" literals. */
#define PSW_MESSAGE_HANG            SD_ID128_MAKE(28,91,61,63,29,cd,4b,b7,bd,a6,f9,b1,7e,e1,33,0d)
#define PSW_MESSAGE_HANG_STR        SD_ID128_MAKE_STR(28,91,61,63,29,cd,4b,b7,bd,a6,f9,b1,7e,e1,33,0d)
#define PSW_MESSAGE_RECOVERED       SD_ID128_MAKE(89,eb,b1,7b,52,2f,49,02,90,ce,07,01,29,f3,3d,89)
#define PSW_MESSAGE_RECOVERED_STR   SD_ID128_MAKE_STR(89,eb,b1,7b,52,2f,49,02,90,ce,07,01,29,f3,3d,89)
#define PSW_MESSAGE_TARGET_LOST     SD_ID128_MAKE(82,f2,e8,1d,91,36,42,c5,89,7b,da,93,a9,d5,35,57)
#define PSW_MESSAGE_TARGET_LOST_STR SD_ID128_MAKE_STR(82,f2,e8,1d,91,36,42,c5,89,7b,da,93,a9,d5,35,57)
#define PSW_MESSAGE_ERROR           SD_ID128_MAKE(53,57,8e,d9,d5,75,45,c8,96,0e,08,5a,f9,bc,88,36)
#define PSW_MESSAGE_ERROR_STR       SD_ID128_MAKE_STR(53,57,8e,d9,d5,75,45,c8,96,0e,08,5a,f9,bc,88,36)

typedef enum AlertEvent {
        ALERT_HANG,          /* a watched stack has not moved for stuck_after */
        ALERT_RECOVERED,     /* a stack reported hung moved again */
        ALERT_TARGET_LOST,   /* a watched process went away (exited, or its pid was reused) */
        ALERT_ERROR,         /* the daemon could not watch or capture (permissions, bad reload) */
        _ALERT_EVENT_MAX,
        _ALERT_EVENT_INVALID = -EINVAL,
} AlertEvent;

typedef struct AlertEventInfo {
        const char *name;        /* PYSPY_EVENT=, and the stderr line's tag */
        const char *message_id;  /* 32 lowercase hex digits */
        int priority;            /* syslog level: LOG_CRIT ... */
} AlertEventInfo;

/* The event table's row, or NULL for a value out of range. */
const AlertEventInfo *alert_event_info(AlertEvent e);
/* "hang", "recovered", "target-lost", "error"; NULL out of range. */
const char *alert_event_to_string(AlertEvent e);
/* The inverse; _ALERT_EVENT_INVALID (-EINVAL) for an unknown name or NULL. */
AlertEvent alert_event_from_string(const char *s);

/* One event. What each carries (the catalog's texts rely on it):
 *   hang         watch pid tid thread stuck_usec stack incident bundle (a capture that
 *                failed is a second event, an error)
 *   recovered    watch pid tid thread stuck_usec (how long it was stuck) incident
 *   target-lost  watch pid
 *   error        message naming the cause and the fix; watch and pid when it has them
 * Nothing is owned: the caller keeps the strings alive for the call. Fields that do
 * not apply are left out of the entry: NULL strings, pid/tid 0, stuck_usec 0. Strings may hold
 * any bytes the target chose (thread names, file and function names): they are passed to the
 * journal verbatim and escaped on the stderr line. */
typedef struct Alert {
        AlertEvent event;
        const char *watch;       /* PYSPY_WATCH: the name after "watch:" */
        pid_t pid;               /* PYSPY_PID */
        pid_t tid;               /* PYSPY_TID: native thread id */
        const char *thread;      /* PYSPY_THREAD: thread name */
        usec_t stuck_usec;       /* PYSPY_STUCK_SECONDS, written as whole seconds */
        const char *stack;       /* PYSPY_STACK: innermost first, one "function (file:line)" per line */
        const char *incident;    /* PYSPY_INCIDENT: the incident ID */
        const char *bundle;      /* PYSPY_BUNDLE: the incident's directory */
        const char *message;     /* MESSAGE: for humans; NULL makes a short one from the fields */
} Alert;

/* Sends the alert to the journal: MESSAGE, MESSAGE_ID, PRIORITY, SYSLOG_IDENTIFIER=pyspy-watch
 * and the PYSPY_* fields above. When no journal listens (see alert_journal_available()) or the
 * send fails, writes alert_format_line() to stderr instead, in one write.
 * Returns 0 when the journal took it, 1 when it went to stderr, -EINVAL for an event out of
 * range, -ENOMEM, or -EIO when stderr failed too. Logs nothing else. Not thread-safe: the
 * journal check is cached in static state (the daemon sends from one thread). */
int alert_send(const Alert *a);

/* Writes the alert as one line, newline included:
 *   pyspy-watch: hang: watch=web pid=123 tid=125 thread="worker-1" stuck=63s incident=ID
 *   bundle=/var/lib/... stack="recv (socket.py:700) <- handle (app.py:40)" message="..."
 * (all on one line). Values made only of [A-Za-z0-9._:/@+,=-] are written bare, others quoted
 * with `"` and `\` backslash-escaped and everything else through term_write_stringn(), so no
 * newline, control byte or invalid UTF-8 ever reaches the output raw. Stack lines are joined
 * with " <- ". Returns 0, -EINVAL for an event out of range, -EIO on a write error. */
int alert_format_line(FILE *f, const Alert *a);

/* 1 if a datagram socket connects to the journal socket at path, 0 if not (missing, stale, no
 * permission), -errno if no socket could be made at all. sd_journal_send() cannot tell us: it
 * returns 0 when the socket is missing, and the alert would be lost silently. */
int alert_journal_socket_check(const char *path);

/* Whether alerts go to the journal: alert_journal_socket_check() on /run/systemd/journal/socket
 * (or on $PYSPY_WATCH_JOURNAL_SOCKET, a knob for tests that sends nothing there), cached for
 * ALERT_JOURNAL_RECHECK_USEC so a journald that starts after us is noticed. force skips the
 * cache. */
#define ALERT_JOURNAL_RECHECK_USEC (10 * USEC_PER_SEC)
#define ALERT_JOURNAL_SOCKET "/run/systemd/journal/socket"
bool alert_journal_available(bool force);
