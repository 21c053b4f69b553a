#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Output safety against a real, hostile Python process, on every installed CPython (2.7,
3.6-3.13; missing ones are skipped, saying so).

hostile_target.py puts terminal escape sequences (CSI, OSC title, OSC 8 links), BEL, CR, BS,
DEL, NUL, C1 controls, bidi overrides, lone surrogates (3.x) or invalid UTF-8 (2.7), markup
that tries to set window.PWNED, ';'/' '/newlines and 100 KB strings into its function names,
file names, local variable names and values, thread names and command line, and reports from
inside what the interpreter holds (truth.json). What the sampler is expected to make of a name
is modelled here (sampler/pyobj.c: at most PYOBJ_STR_MAX code points or 2.7 bytes, then at
most PYOBJ_STR_MAX bytes of UTF-8; lone surrogates, invalid UTF-8 and NUL become U+FFFD), and
so is each writer of report/escape.c and report/folded.c. For every interpreter:

  dump --locals --json  parses; every thread, frame (function, qualname, file, line) and local
                        (name, repr() with the documented 256-byte cut) equals the truth; the
                        command line equals what was started; the JSON text holds no raw C0,
                        DEL, C1, U+2028/2029 or bidi control.
  dump --json           the same without locals, and no "locals" key.
  dump --locals         is exactly the text the JSON dump renders to through the terminal
                        escaping (so hostile content shows escaped, e.g. \\x1b[2J, \\u202e);
                        no raw control byte but \\n, no DEL, C1, ESC or bidi control; valid
                        UTF-8; every line under LINE_MAX.
  record (SVG)          well-formed XML; our one <script>, no foreign element, no on*/href
                        attribute; every hostile frame and thread present with data-fn,
                        data-path, data-line and tooltip equal to the escaped truth; the title
                        shows the command line; no raw control byte but \\n.
  record -f speedscope  strict UTF-8 JSON, schema-valid (tests/js/validate-speedscope.js); the
                        frames' names and files, the thread profiles' names and the document's
                        name (command line) equal the truth.
  record -f folded      tests/check-folded.py accepts it; every hostile frame and thread root
                        is there, sanitised as folded.h says (';' -> ':', controls -> '?').
  top (not a tty)       plain snapshots without raw control bytes, hostile names escaped.
  every stderr          no raw control byte but \\n; no sanitizer report.

On one interpreter (pyenv's 3.11 or the newest 3.x found): the flame graph in headless Chromium
(tests/js/test-flamegraph.js: nothing from the data runs, window.PWNED stays unset), and the
watch daemon (stderr alerts, PYSPY_WATCH_JOURNAL_SOCKET=/nonexistent) on two targets: without
and with the thread whose function, file and thread names are 100 KB long. For each: every
stderr line is one alert without raw control bytes; one hang line per stuck thread, its
thread= the name escaped, its stack= starting with the stuck frame escaped and whole (a
newline in a name must not split it); the bundle's summary.txt and dump.txt without raw
control bytes, dump.json, process.json, manifest.json parsed, speedscope.json, samples.folded
and flamegraph.svg (also in the browser) checked as above.

    python3 tests/live/test_hostile.py [--python PATH]... [--feature-python PATH] [-j N] [--no-daemon]

The binary is $PYSPY_WATCH (relative to the repository root), default ./pyspy-watch. Outputs go
to tests/out/live/hostile/ ($PYSPY_TEST_OUT). One line per check; exit 0 when all passed, 1
otherwise, 77 when no interpreter is installed.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livecommon as lc  # noqa: E402

HTARGET = os.path.join(lc.HERE, "hostile_target.py")
OUT = os.path.join(lc.ROOT, os.environ.get("PYSPY_TEST_OUT") or os.path.join("tests", "out", "live", "hostile"))
CHECK_FOLDED = os.path.join(lc.ROOT, "tests", "check-folded.py")
JS_DIR = os.path.join(lc.ROOT, "tests", "js")
FLAMEGRAPH_JS = os.path.join(JS_DIR, "test-flamegraph.js")
SPEEDSCOPE_JS = os.path.join(JS_DIR, "validate-speedscope.js")

STR_MAX = 4096          # PYOBJ_STR_MAX in sampler/pyobj.h
REPR_MAX = 256          # PYOBJ_REPR_MAX
REPR_MIN_KEPT = 200     # a cut repr keeps at least this much of the real one
CMDLINE_MAX = 4095      # the buffer of proc_cmdline() in the dump verb, less its NUL
THREAD_LABEL_MAX = 256  # report/profile.c cuts thread names in root labels ("%.256s")
TITLE_MAX_CHARS = 160   # report/flamegraph.c cuts the command line in the title to this
# term_write_string() turns one byte into at most 4 ("\x1b"); a frame line holds a function
# and a file name of at most STR_MAX bytes each.
LINE_MAX = 2 * 4 * STR_MAX + 64
RECORD_SECS = 1
TOP_SECS = 2.2
STUCK_AFTER = 3
HANG_WAIT = 25

# The target's command line: hostile too (argv cannot hold NUL).
ARGV_PAYLOAD = ["ARG\x1b[2J\x1b]0;argv title\x07<script>window.PWNED=9</script>]]>\n\"'&\u202e",
                "\x9b31m;semi colon\r\x08"]

ARGS = ("ready", "lock", "vals")    # the hostile functions' arguments (plain names)
SVG = "{http://www.w3.org/2000/svg}"
SVG_ELEMENTS = set(SVG + t for t in ("svg", "style", "defs", "linearGradient", "stop", "rect", "text", "g",
                                     "title", "script"))

print_lock = threading.Lock()


# ---------------------------------------------------------------------------------------------
# Models: what the sampler makes of a name, and what each writer makes of a string.

LAYOUT = set([0x061C, 0x200E, 0x200F, 0x2028, 0x2029] + list(range(0x202A, 0x202F)) +
             list(range(0x2066, 0x206A)))


def is_c0_del(cp):
    return cp < 0x20 or cp == 0x7F


def is_c1(cp):
    return 0x80 <= cp <= 0x9F


def decode_like_sampler(b):
    """pyobj.c utf8_decode(): 2.7 str bytes as UTF-8, each bad byte one U+FFFD."""
    out, i, n = [], 0, len(b)
    while i < n:
        c0 = b[i]
        if c0 < 0x80:
            out.append(chr(c0))
            i += 1
            continue
        if 0xC2 <= c0 <= 0xDF:
            ln, cp, mn = 2, c0 & 0x1F, 0x80
        elif 0xE0 <= c0 <= 0xEF:
            ln, cp, mn = 3, c0 & 0x0F, 0x800
        elif 0xF0 <= c0 <= 0xF4:
            ln, cp, mn = 4, c0 & 0x07, 0x10000
        else:
            out.append("\ufffd")
            i += 1
            continue
        ok = ln <= n - i
        for k in range(1, ln if ok else 0):
            if b[i + k] & 0xC0 != 0x80:
                ok = False
                break
            cp = cp << 6 | (b[i + k] & 0x3F)
        if not ok or cp < mn or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
            out.append("\ufffd")
            i += 1
            continue
        out.append(chr(cp))
        i += ln
    return "".join(out)


def shown(v):
    """The string the sampler reports for a name the target holds ({"u": str} or {"b": hex})."""
    if v is None:
        return None
    if "b" in v:
        s = decode_like_sampler(bytes.fromhex(v["b"])[:STR_MAX])
    else:
        s = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in v["u"][:STR_MAX])
    s = s.replace("\0", "\ufffd")
    out, n = [], 0
    for c in s:
        k = len(c.encode("utf-8"))
        if n + k > STR_MAX:
            break
        out.append(c)
        n += k
    return "".join(out)


def term(s):
    """report/escape.c term_write_string() of valid text."""
    out = []
    for c in s:
        cp = ord(c)
        if c in "\t\n\r":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r"}[c])
        elif is_c0_del(cp):
            out.append("\\x%02x" % cp)
        elif is_c1(cp) or cp in LAYOUT:
            out.append("\\u%04x" % cp)
        else:
            out.append(c)
    return "".join(out)


def xml_back(s):
    """What an XML parser reads back from xml_write_string(s) of valid text."""
    return "".join("\ufffd" if (is_c0_del(ord(c)) and c not in "\t\n\r") or is_c1(ord(c))
                   or ord(c) in (0xFFFE, 0xFFFF) else c for c in s)


def folded(s):
    """report/folded.c folded_write_name() of valid text."""
    return "".join(":" if c == ";" else "?" if is_c0_del(ord(c)) or is_c1(ord(c)) or ord(c) in LAYOUT else c
                   for c in s)


def basename(path):
    """dump.c path_basename(), and profile_short_filename() for paths outside lib/python."""
    i = path.rfind("/")
    return path[i + 1:] if i >= 0 and path[i + 1:] else path


def thread_label(ident, name):
    """report/profile.c's root label, when the name is short enough not to be cut."""
    if name is None:
        return "thread (0x%x)" % ident
    if len(name.encode("utf-8")) > THREAD_LABEL_MAX:
        return None
    return 'thread (0x%x) "%s"' % (ident, name)


def raw_problems(data, what, allow_layout=False, limit=3):
    """Raw bytes a terminal (or a reader) would act upon: C0 controls but \\n, DEL, C1 controls,
    and unless allowed the bidi/line-breaking formatting characters; invalid UTF-8."""
    p = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        p.append("%s: not UTF-8: %s" % (what, e))
        text = data.decode("utf-8", "replace")
    for i, c in enumerate(text):
        cp = ord(c)
        if (is_c0_del(cp) and c != "\n") or is_c1(cp) or (cp in LAYOUT and not allow_layout):
            p.append("%s: raw U+%04X at character %d: %r" % (what, cp, i, text[max(0, i - 40):i + 40]))
            if len(p) >= limit:
                break
    return p


def line_problems(text, what):
    long_lines = [(n, len(l)) for n, l in enumerate(text.split("\n"), 1) if len(l) > LINE_MAX]
    if long_lines:
        return ["%s: %d lines longer than %d characters, e.g. line %d (%d)" % (
            what, len(long_lines), LINE_MAX, long_lines[0][0], long_lines[0][1])]
    return []


def first_diff(a, b):
    i = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
    return "at %d: got %r, expected %r" % (i, a[max(0, i - 30):i + 50], b[max(0, i - 30):i + 50])


# ---------------------------------------------------------------------------------------------
# The target

class HTarget(lc.TargetProcess):
    def __init__(self, python, short=False):
        self.python = python
        self.make_dir("pyspy-hostile-")
        self.argv = [python, HTARGET, self.dir] + ARGV_PAYLOAD
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONIOENCODING="utf-8")
        env.pop("PYTHONPATH", None)
        env.pop("PYTHONHOME", None)
        if short:
            env["HOSTILE_SHORT"] = "1"
        self.start(self.argv, env)
        self.truth = None

    def wait_truth(self, timeout=60):
        path = os.path.join(self.dir, "truth.json")
        deadline = time.monotonic() + timeout
        late = self.wait_path(path, deadline, "no truth.json after %ds" % timeout)
        if late:
            return late
        with open(path, encoding="utf-8") as f:
            self.truth = json.load(f)
        if self.truth.get("error"):
            return "target: " + self.truth["error"]
        # The reporter thread gone, every other thread asleep.
        while True:
            states = [lc.proc_state_tid(self.pid, t) for t in os.listdir("/proc/%d/task" % self.pid)]
            if len(states) == self.truth["nthreads"] and all(s == "S" for s in states):
                return None
            if self.proc.poll() is not None or time.monotonic() > deadline:
                return "target threads %s, expected %d asleep: %s" % (states, self.truth["nthreads"],
                                                                      self.log_text())
            time.sleep(0.02)

    def cmdline(self):
        b = b" ".join(a.encode("utf-8") for a in self.argv)[:CMDLINE_MAX]
        return b.decode("utf-8", "replace")


def hostile_frames(truth):
    """(thread, frame) of every hostile frame in the truth."""
    return [(t, f) for t in truth["threads"] for f in t["frames"] if f["hostile"]]


# ---------------------------------------------------------------------------------------------
# Running the tool

def tool(outdir, name, args, timeout=60, env=None):
    r = lc.run_tool(args, timeout=timeout, env=env)
    r.save(os.path.join(outdir, name + ".log"))
    return r


def tool_problems(r, what):
    p = []
    rep = r.sanitizer_report()
    if rep:
        p.append("%s: sanitizer report %r: %s" % (what, rep, r.describe()))
    if r.rc != 0:
        p.append("%s: %s" % (what, r.describe()))
    p += raw_problems(r.err, what + " stderr")
    return p


# ---------------------------------------------------------------------------------------------
# dump

def parse_json_bytes(data, what):
    try:
        return json.loads(data.decode("utf-8")), []
    except UnicodeDecodeError as e:
        return None, ["%s: not UTF-8: %s" % (what, e)]
    except ValueError as e:
        return None, ["%s: not one JSON document: %s: %r" % (what, e, data[:200])]


def check_value(info, got):
    want = info["repr"]
    if info["kind"] == "exact":
        return None if got == want else "got %r, expected %r" % (got[:300], want[:300])
    if not got.endswith("..."):
        return "long repr not cut with '...': %r" % got[:80]
    kept = got[:-3]
    n = len(kept.encode("utf-8"))
    if n > REPR_MAX or n < REPR_MIN_KEPT:
        return "cut repr keeps %d bytes, expected %d..%d" % (n, REPR_MIN_KEPT, REPR_MAX)
    if not want.startswith(kept):
        return "cut repr is not a prefix of the real one: %s" % first_diff(kept, want)
    return None


def check_dump_json(j, t, with_locals, what):
    truth = t.truth
    p = []
    if not isinstance(j, dict) or not isinstance(j.get("threads"), list):
        return ["%s: not a dump: %r" % (what, str(j)[:200])]
    if j.get("pid") != t.pid:
        p.append("%s: pid %r, expected %d" % (what, j.get("pid"), t.pid))
    if j.get("cmdline") != t.cmdline():
        p.append("%s: cmdline %s" % (what, first_diff(str(j.get("cmdline")), t.cmdline())))
    if j.get("python_version") != truth["version"]:
        p.append("%s: python_version %r, expected %r" % (what, j.get("python_version"), truth["version"]))
    by_id = dict((x.get("thread_id"), x) for x in j["threads"])
    for tr in truth["threads"]:
        want_name = shown(tr["name"])
        label = "%s: thread %r" % (what, (want_name or "")[:60])
        x = by_id.get(tr["ident"])
        if x is None:
            p.append("%s (ident %d) missing" % (label, tr["ident"]))
            continue
        if x.get("name") != want_name:
            p.append("%s: name %s" % (label, first_diff(str(x.get("name")), str(want_name))))
        if tr.get("native_id") and x.get("native_id") != tr["native_id"]:
            p.append("%s: native_id %r, expected %d" % (label, x.get("native_id"), tr["native_id"]))
        got = list(reversed(x.get("frames") or []))
        if len(got) != len(tr["frames"]):
            p.append("%s: %d frames, expected %d" % (label, len(got), len(tr["frames"])))
            continue
        for g, w in zip(got, tr["frames"]):
            want = (shown(w["function"]), shown(w["filename"]), w["line"])
            have = (g.get("function"), g.get("filename"), g.get("line"))
            if have != want:
                p.append("%s: frame %r, expected %r" % (label, tuple(str(v)[:80] for v in have),
                                                        tuple(str(v)[:80] for v in want)))
                continue
            if w["hostile"] and "qualname" in g and g["qualname"] != want[0]:
                p.append("%s: qualname %s" % (label, first_diff(str(g["qualname"]), want[0])))
            if not with_locals:
                if "locals" in g:
                    p.append("%s: locals without --locals" % label)
                continue
            if not w["hostile"]:
                continue
            loc = g.get("locals")
            if not isinstance(loc, dict):
                p.append("%s: frame %r has no locals object" % (label, want[0][:60]))
                continue
            names = set(ARGS)
            for l in w["locals"]:
                k = shown(l["name"])
                names.add(k)
                if k not in loc:
                    p.append("%s: local %r missing; have %s" % (label, k[:60], [n[:30] for n in loc]))
                    continue
                why = check_value(l, loc[k])
                if why:
                    p.append("%s: local %r: %s" % (label, k[:60], why))
            extra = [k for k in loc if k not in names]
            if extra:
                p.append("%s: unexpected locals %s" % (label, [k[:60] for k in extra]))
    return p[:15]


def render_text(j):
    """dump.c dump_write_text() of the snapshot that the JSON dump describes."""
    out = []
    out.append("Process %d%s\n" % (j["pid"], ": " + term(j["cmdline"]) if j.get("cmdline") is not None else ""))
    out.append("Python%s%s\n" % (" v" + term(j["python_version"]) if j.get("python_version") is not None else "",
                                 " (%s)" % term(j["executable"]) if j.get("executable") is not None else ""))
    for t in j["threads"]:
        out.append("\n")
        head = "Thread %d" % t["native_id"] if t["native_id"] else "Thread 0x%x" % t["thread_id"]
        state = ("idle" if t["idle"] else "active") + ("+gil" if t["gil"] else "")
        out.append("%s (%s)%s\n" % (head, state, ': "%s"' % term(t["name"]) if t.get("name") is not None else ""))
        for f in t["frames"]:
            fn = f["function"] if f.get("function") is not None else "<unknown>"
            fl = basename(f["filename"]) if f.get("filename") is not None else "<unknown>"
            out.append("    %s (%s%s)\n" % (term(fn), term(fl), ":%d" % f["line"] if f["line"] > 0 else ""))
            for k, v in (f.get("locals") or {}).items():
                out.append("        %s: %s\n" % (term(k or "<unknown>"), term(v if v is not None else "<unknown>")))
        if t.get("truncated"):
            out.append("    ... (stack truncated)\n")
    return "".join(out)


# Escaped forms that must be seen in the text dump: the hostile content stays recognisable.
TEXT_MARKERS = ["f_esc\\x1b[2J\\x1b[1;31mRED\\x1b]0;pwned title\\x07",
                "f_osc8\\x1b]8;;http://evil.example/\\x07click me",
                "f_bidi\\u202euser\\u2066txt.exe\\u2069\\u2028ls\\u200f",
                "f_c1\\u0085nel\\u009b31mcsi",
                "f;semi colon space\\nnew line 7",
                "<script>window.PWNED=1</script>",
                "l_c1\\u0085\\u009b\\u202eevil: "]


def output_problems(r, what):
    """tool_problems(r), and when it exited 0, the raw controls of its stdout."""
    p = tool_problems(r, what)
    if r.rc == 0:
        p += raw_problems(r.out, what + " stdout")
    return p


def check_json_dump(t, outdir, name, args, with_locals):
    """Runs `dump --pid PID ARGS` (ARGS with --json); (its problems, the document or None)."""
    what = " ".join(["dump"] + args)
    r = tool(outdir, name, ["dump", "--pid", str(t.pid)] + args)
    p = output_problems(r, what)
    j = None
    if r.rc == 0:
        j, jp = parse_json_bytes(r.out, what)
        p += jp
        if j is not None:
            p += check_dump_json(j, t, with_locals, what)
    return p, j


def check_dumps(t, outdir):
    checks = []
    pid = str(t.pid)
    p, j = check_json_dump(t, outdir, "dump-locals-json", ["--locals", "--json"], True)
    checks.append(("dump --locals --json: parses, equals the truth, no raw controls", p))

    p, _ = check_json_dump(t, outdir, "dump-json", ["--json"], False)
    checks.append(("dump --json: parses, equals the truth, no locals", p))

    r = tool(outdir, "dump-locals", ["dump", "--pid", pid, "--locals"])
    p = output_problems(r, "dump --locals")
    if r.rc == 0:
        text = r.out.decode("utf-8", "replace")
        p += line_problems(text, "dump --locals")
        if "\x1b" in text:
            p.append("dump --locals: ESC in the output")
        if j is not None:
            want = render_text(j)
            if text != want:
                p.append("dump --locals is not the JSON dump through the terminal escaping: %s"
                         % first_diff(text, want))
        for m in TEXT_MARKERS:
            if m not in text:
                p.append("dump --locals: %r not in the output" % m)
    checks.append(("dump --locals: = the JSON dump escaped for a terminal, no raw controls, "
                   "lines <= %d" % LINE_MAX, p))
    return checks


# ---------------------------------------------------------------------------------------------
# record

def read_output(path, what, allow_layout=False):
    """(the bytes of path, their raw_problems()), or (None, [why it cannot be read])."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return None, ["%s: %s" % (what, e)]
    return data, raw_problems(data, what, allow_layout)


def check_svg(path, truth, what, with_threads, cmdline=None, pid=None):
    """cmdline: the title must show it (cut to TITLE_MAX_CHARS)."""
    # Bidi controls are characters XML and HTML allow: the SVG keeps them (escape.h).
    data, p = read_output(path, what, allow_layout=True)
    if data is None:
        return p
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        return p + ["%s: not well-formed XML: %s" % (what, e)]
    if root.tag != SVG + "svg":
        p.append("%s: root element %r" % (what, root.tag))
    scripts = [el for el in root.iter() if el.tag == SVG + "script"]
    if len(scripts) != 1:
        p.append("%s: %d <script> elements, expected 1" % (what, len(scripts)))
    elif "PWNED" in (scripts[0].text or ""):
        p.append("%s: data inside the script" % what)
    foreign = sorted(set(el.tag for el in root.iter() if el.tag not in SVG_ELEMENTS))
    if foreign:
        p.append("%s: foreign elements %s" % (what, foreign[:5]))
    bad_attrs = sorted(set(a for el in root.iter() for a in el.attrib
                           if a.lower().startswith("on") or "href" in a.lower()))
    if bad_attrs:
        p.append("%s: attributes %s" % (what, bad_attrs[:5]))

    if cmdline is not None:
        title = root.find(SVG + "text[@id='title']")
        shown_cmd = cmdline if len(cmdline) <= TITLE_MAX_CHARS else cmdline[:TITLE_MAX_CHARS - 2] + ".."
        want = xml_back("pyspy-watch record: pid %d (%s), " % (pid, shown_cmd))
        got = title.text if title is not None else ""
        if not got.startswith(want):
            p.append("%s: title %s" % (what, first_diff(got, want)))

    frames = {}
    fns = set()
    for g in root.iter(SVG + "g"):
        if g.get("class") != "f":
            continue
        title = g.find(SVG + "title")
        key = (g.get("data-fn"), g.get("data-path"), g.get("data-line"))
        frames[key] = title.text if title is not None else None
        fns.add(g.get("data-fn"))
    for tr, fr in hostile_frames(truth):
        fn, fl = shown(fr["function"]), shown(fr["filename"])
        key = (xml_back(fn), xml_back(fl), str(fr["line"]))
        if key not in frames:
            p.append("%s: no frame with data-fn %r data-path %r data-line %s" % (
                what, key[0][:60], key[1][:60], key[2]))
            continue
        want_title = xml_back("%s (%s:%d)" % (fn, fl, fr["line"])) + "\n"
        if not (frames[key] or "").startswith(want_title):
            p.append("%s: tooltip %s" % (what, first_diff(frames[key] or "", want_title)))
    if with_threads:
        for tr in truth["threads"]:
            label = thread_label(tr["ident"], shown(tr["name"]))
            if label is not None and xml_back(label) not in fns:
                p.append("%s: no thread frame %r" % (what, label[:80]))
    return p[:15]


def check_speedscope(path, truth, what, with_threads, name=None):
    data, p = read_output(path, what)
    if data is None:
        return p
    doc, jp = parse_json_bytes(data, what)
    p += jp
    if doc is None:
        return p
    p += validate_speedscope(path)
    if name is not None and doc.get("name") != name:
        p.append("%s: name %s" % (what, first_diff(str(doc.get("name")), name)))
    frames = set()
    for fr in doc.get("shared", {}).get("frames", []):
        frames.add((fr.get("name"), fr.get("file"), fr.get("line")))
    for tr, fr in hostile_frames(truth):
        key = (shown(fr["function"]), shown(fr["filename"]), fr["line"])
        if key not in frames:
            p.append("%s: no frame %r" % (what, tuple(str(v)[:60] for v in key)))
    names = set(pr.get("name") for pr in doc.get("profiles", []))
    for tr in truth["threads"] if with_threads else []:
        label = thread_label(tr["ident"], shown(tr["name"]))
        if label is not None and label not in names:
            p.append("%s: no profile named %r" % (what, label[:80]))
    return p[:15]


def validate_speedscope(path):
    if not shutil.which("node") or not os.path.isdir(os.path.join(JS_DIR, "node_modules", "ajv")):
        return []   # the schema check is test_record's; here it is a bonus
    try:
        r = subprocess.run(["node", SPEEDSCOPE_JS, path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60, cwd=JS_DIR)
    except (OSError, subprocess.SubprocessError) as e:
        return ["cannot run node: %s" % e]
    if r.returncode != 0:
        return ["speedscope validation failed: %s" % r.stdout.decode("utf-8", "replace")[-800:]]
    return []


def check_folded(path, truth, what, with_threads):
    data, p = read_output(path, what)
    if data is None:
        return p
    r = subprocess.run([sys.executable, CHECK_FOLDED, path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    if r.returncode != 0:
        p.append("%s: check-folded.py: %s" % (what, r.stdout.decode("utf-8", "replace")[-800:]))
    lines = data.decode("utf-8", "replace").split("\n")[:-1]
    frames, roots = set(), set()
    for line in lines:
        m = re.match(r"^(.+) (\d+)$", line)
        if not m:
            continue
        parts = m.group(1).split(";")
        roots.add(parts[0])
        frames.update(parts)
    for tr, fr in hostile_frames(truth):
        want = "%s (%s:%d)" % (folded(shown(fr["function"])), folded(basename(shown(fr["filename"]))), fr["line"])
        if want not in frames:
            p.append("%s: no frame %r" % (what, want[:100]))
    for tr in truth["threads"] if with_threads else []:
        label = thread_label(tr["ident"], shown(tr["name"]))
        if label is not None and folded(label) not in roots:
            p.append("%s: no line rooted at %r" % (what, folded(label)[:100]))
    return p[:15]


TOP_MARKERS = ["<script>window.PWNED=1</script>", "f_esc\\x1b[2J\\x1b[1;31mRED",
               "f_bidi\\u202euser\\u2066txt.exe"]


def run_top(t, outdir, r_holder):
    e = dict(os.environ)
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    argv = [lc.BIN, "top", "--pid", str(t.pid), "--idle"]
    t0 = time.monotonic()
    p = lc.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
    time.sleep(TOP_SECS)
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=20)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        lc.kill(p)
        out, err = p.communicate()
        rc = "timeout"
    lc.kill(p)
    r = lc.Result(argv, rc, out, err, time.monotonic() - t0)
    r.save(os.path.join(outdir, "top.log"))
    r_holder.append(r)


def check_records(t, outdir, feature):
    pid = str(t.pid)
    files = {"svg": os.path.join(outdir, "record.svg"), "speedscope": os.path.join(outdir, "record.json"),
             "folded": os.path.join(outdir, "record.folded")}
    for f in files.values():
        if os.path.exists(f):
            os.unlink(f)
    common = ["record", "--pid", pid, "--idle", "--threads", "-d", str(RECORD_SECS)]
    jobs = {"svg": common + ["-o", files["svg"]],
            "speedscope": common + ["-f", "speedscope", "-o", files["speedscope"]],
            "folded": common + ["-f", "folded", "-o", files["folded"]]}
    results, top = {}, []
    with ThreadPoolExecutor(max_workers=4) as ex:
        futs = dict((k, ex.submit(tool, outdir, "record-" + k, args)) for k, args in jobs.items())
        topf = ex.submit(run_top, t, outdir, top)
        for k, f in futs.items():
            results[k] = f.result()
        topf.result()

    checks = []
    r = results["svg"]
    p = tool_problems(r, "record (flamegraph)")
    if r.rc == 0:
        p += check_svg(files["svg"], t.truth, "record.svg", True, t.cmdline(), t.pid)
    checks.append(("record flame graph: well-formed, one script, no injected markup, frames and "
                   "threads escaped", p))
    r = results["speedscope"]
    p = tool_problems(r, "record -f speedscope")
    if r.rc == 0:
        p += check_speedscope(files["speedscope"], t.truth, "record.json", True, "%s (pid %d)" % (t.cmdline(), t.pid))
    checks.append(("record -f speedscope: strict JSON, schema, names equal the truth", p))
    r = results["folded"]
    p = tool_problems(r, "record -f folded")
    if r.rc == 0:
        p += check_folded(files["folded"], t.truth, "record.folded", True)
    checks.append(("record -f folded: one 'FRAMES COUNT' line per stack, names sanitised", p))

    r = top[0]
    p = tool_problems(r, "top (not a tty)")
    if r.rc == 0:
        p += raw_problems(r.out, "top stdout")
        text = r.out.decode("utf-8", "replace")
        p += line_problems(text, "top")
        if not re.search(r"^Process %d: " % t.pid, text, re.M):
            p.append("top: no snapshot in %.1fs: %r" % (TOP_SECS, text[:300]))
        else:
            for m in TOP_MARKERS:
                if m not in text:
                    p.append("top: %r not in the output" % m)
    checks.append(("top (not a tty): plain snapshots, no raw controls, names escaped", p))

    if feature:
        checks.append(("flame graph in headless Chromium: nothing injected runs",
                       browser(files["svg"], os.path.join(outdir, "browser"))))
    return checks


def browser(svg, outdir):
    """[] passed, ["skip: ..."] skipped, else the problems."""
    if not shutil.which("node"):
        return ["skip: node not installed"]
    try:
        r = subprocess.run(["node", FLAMEGRAPH_JS, svg, outdir], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=240, cwd=lc.ROOT)
    except subprocess.TimeoutExpired:
        return ["test-flamegraph.js timed out on %s" % svg]
    text = r.stdout.decode("utf-8", "replace")
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, os.path.basename(svg) + ".log"), "w") as f:
        f.write(text)
    if r.returncode == 77:
        return ["skip: " + (text.strip().splitlines() or ["test-flamegraph.js skipped"])[-1]]
    if r.returncode != 0:
        return ["test-flamegraph.js %s exited %d: %s" % (svg, r.returncode, text[-1200:])]
    return []


# ---------------------------------------------------------------------------------------------
# The daemon

class RawReader(threading.Thread):
    def __init__(self, pipe):
        threading.Thread.__init__(self, daemon=True)
        self.pipe = pipe
        self.data = b""
        self.lock = threading.Lock()
        self.start()

    def run(self):
        for chunk in iter(lambda: os.read(self.pipe.fileno(), 65536), b""):
            with self.lock:
                self.data += chunk

    def lines(self):
        with self.lock:
            return self.data.split(b"\n")[:-1]


def quoted(s):
    """watchdog/alert.c write_quoted_inner(): '"' and '\\' backslashed, the rest escaped for a
    terminal."""
    return "".join("\\" + c if c in "\"\\" else term(c) for c in s)


def check_hang_lines(lines, truth):
    """One hang line per stuck thread, with its thread= the truth's name escaped; (problems of
    thread=, problems of stack=: its innermost frame, escaped, whole)."""
    pt, ps = [], []
    by_tid = {}
    for l in lines:
        m = re.search(r" tid=(\d+) ", l)
        if m:
            by_tid[int(m.group(1))] = l
    for tr in truth["threads"]:
        if not tr.get("native_id"):
            continue
        name = shown(tr["name"])
        l = by_tid.get(tr["native_id"])
        if l is None:
            pt.append("no hang line for thread %d %r" % (tr["native_id"], (name or "")[:60]))
            continue
        if name is not None and ' thread="%s" ' % quoted(name) not in l:
            pt.append("hang line of thread %d: no thread=\"%s\" in %r" % (tr["native_id"], quoted(name)[:80], l[:300]))
        inner = tr["frames"][-1]
        # PYSPY_STACK's lines hold the names escaped for a terminal (a newline in a name must
        # not split its frame in two, nor fake another), which stack= then quotes like any
        # value: a name's ESC reads \\x1b there, and unquotes to the \x1b of summary.txt.
        frame = "%s (%s:%d)" % ("".join(term(c) for c in shown(inner["function"])),
                                "".join(term(c) for c in shown(inner["filename"])), inner["line"])
        # A prefix: the daemon cuts a name past 512 bytes, with "...".
        if ' stack="%s' % quoted(frame)[:200] not in l:
            ps.append("hang line of thread %d: stack= does not start with %r: %r" % (
                tr["native_id"], quoted(frame)[:100], l[l.find(" stack="):][:200]))
    return pt[:10], ps[:10]


def read_files(directory, names, p):
    """(name, bytes) of each of names in directory that can be read; appends to p why the
    others cannot."""
    for name in names:
        try:
            with open(os.path.join(directory, name), "rb") as f:
                data = f.read()
        except OSError as e:
            p.append("%s: %s" % (name, e))
            continue
        yield name, data


def check_daemon(python, short):
    """short: without the thread named (function, file, thread) with 100 KB strings."""
    tag = "daemon" if short else "daemon (100 KB names)"
    outdir = os.path.join(OUT, "daemon" if short else "daemon-long")
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    state = os.path.join(outdir, "state")
    os.makedirs(state, mode=0o700)
    checks = []
    t = HTarget(python, short)
    d = None
    try:
        err = t.wait_truth()
        if err:
            return [(tag + ": target", [err])]
        cfg = os.path.join(outdir, "watch.ini")
        with open(cfg, "w") as f:
            f.write("[daemon]\nstate_dir = %s\n\n[watch:hostile]\npid = %d\nrate = 10\nstuck_after = %ds\n"
                    "history = 30s\ncooldown = 30m\n" % (state, t.pid, STUCK_AFTER))
        os.chmod(cfg, 0o600)
        env = dict(os.environ, PYSPY_WATCH_JOURNAL_SOCKET="/nonexistent")
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            env.pop(k, None)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        d = lc.spawn([lc.BIN, "watch", "-c", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        reader = RawReader(d.stderr)
        inc = os.path.join(state, "incidents")

        def bundle():
            try:
                names = sorted(n for n in os.listdir(inc) if not n.startswith("."))
            except OSError:
                return None
            for n in names:
                if os.path.exists(os.path.join(inc, n, "manifest.json")):
                    return os.path.join(inc, n)
            return None

        # Every thread is stuck: one hang line each, in one incident or joined to it (JOIN_USEC
        # in cmd-watch.c is 2 s).
        want = len([tr for tr in t.truth["threads"] if tr.get("native_id")])
        deadline = time.monotonic() + HANG_WAIT
        first = None
        while time.monotonic() < deadline and d.poll() is None:
            hang = [l for l in reader.lines() if l.startswith(b"pyspy-watch: hang:")]
            if hang and bundle():
                first = first or time.monotonic()
                if len(hang) >= want or time.monotonic() - first > 3:
                    break
            time.sleep(0.1)
        time.sleep(0.3)
        rc_early = d.poll()
        if rc_early is None:
            d.send_signal(signal.SIGTERM)
        try:
            rc = d.wait(timeout=8)
        except subprocess.TimeoutExpired:
            rc = "still running"
        reader.join(timeout=3)
        with open(os.path.join(outdir, "daemon.stderr"), "wb") as f:
            f.write(reader.data)
        hang = [l for l in reader.lines() if l.startswith(b"pyspy-watch: hang:")]

        p = []
        if rc_early is not None:
            p.append("the daemon exited by itself with %s" % rc_early)
        elif rc != 0:
            p.append("the daemon exited %s on SIGTERM" % rc)
        text = reader.data.decode("utf-8", "replace")
        m = lc.SANITIZER_RE.search(text)
        if m:
            p.append("sanitizer report: %r" % m.group(0))
        p += raw_problems(reader.data, "daemon stderr")
        lines = reader.lines()
        not_alerts = [l for l in lines if not lc.parse_alert(l.decode("utf-8", "replace"))]
        if not_alerts:
            p.append("stderr lines that are not one alert each: %r" % [l[:120] for l in not_alerts[:3]])
        checks.append((tag + ": stderr: one alert per line, no raw controls", p))
        if not hang:
            checks.append((tag + ": a hang line per stuck thread, thread= escaped",
                           ["no hang line within %ds: %r" % (HANG_WAIT, text[-600:])]))
        else:
            pt, ps = check_hang_lines([l.decode("utf-8", "replace") for l in hang], t.truth)
            checks.append((tag + ": a hang line per stuck thread, thread= escaped", pt))
            checks.append((tag + ": hang lines' stack= starts with the stuck frame, escaped and whole", ps))

        b = bundle()
        if not b:
            checks.append((tag + ": incident bundle", ["no complete bundle under %s" % inc]))
            return checks
        p = []
        for name, data in read_files(b, ("summary.txt", "dump.txt"), p):
            p += raw_problems(data, name)
            p += line_problems(data.decode("utf-8", "replace"), name)
            if b"\\x1b" not in data:
                p.append("%s: no escaped ESC (\\x1b) in it" % name)
        for name, data in read_files(b, ("dump.json", "process.json", "manifest.json"), p):
            p += raw_problems(data, name)
            p += parse_json_bytes(data, name)[1]
        # The daemon names the threads of its history as it chooses: the frames must be right.
        p += check_speedscope(os.path.join(b, "speedscope.json"), t.truth, "speedscope.json", False)
        p += check_folded(os.path.join(b, "samples.folded"), t.truth, "samples.folded", False)
        p += check_svg(os.path.join(b, "flamegraph.svg"), t.truth, "flamegraph.svg", False)
        checks.append((tag + " bundle: summary.txt, dump.txt, dump.json, process.json, manifest.json, "
                       "speedscope.json, samples.folded, flamegraph.svg safe", p))
        checks.append((tag + " bundle flame graph in headless Chromium: nothing injected runs",
                       browser(os.path.join(b, "flamegraph.svg"), os.path.join(outdir, "browser"))))
        return checks
    finally:
        if d is not None:
            lc.kill(d)
        t.close()


# ---------------------------------------------------------------------------------------------

def slug(s):
    return re.sub(r"[^A-Za-z0-9.]+", "_", s.strip("/"))


def test_interpreter(version, python, feature):
    outdir = os.path.join(OUT, "%s-%s" % (version, slug(python)))
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    t = HTarget(python)
    try:
        err = t.wait_truth()
        if err:
            return [("target", [err])]
        shutil.copy(os.path.join(t.dir, "truth.json"), os.path.join(outdir, "truth.json"))
        checks = check_dumps(t, outdir)
        checks += check_records(t, outdir, feature)
        if t.proc.poll() is not None:
            checks.append(("target alive at the end", ["exited with %s" % t.proc.returncode]))
        return checks
    finally:
        t.close()


def report(title, checks):
    """Prints the checks; returns (passed, failed, skipped) counts."""
    counts = [0, 0, 0]
    with print_lock:
        print("# %s" % title)
        for name, p in checks:
            if p and all(x.startswith("skip: ") for x in p):
                counts[2] += 1
                print("skip  %s: %s" % (name, p[0][6:]))
            elif p:
                counts[1] += 1
                print("FAIL  %s" % name)
                for x in p[:12]:
                    print("     - %s" % x[:1500])
                if len(p) > 12:
                    print("     ... %d more" % (len(p) - 12))
            else:
                counts[0] += 1
                print("ok    %s" % name)
        sys.stdout.flush()
    return counts


def guarded(fn, *args):
    try:
        return fn(*args)
    except Exception:
        return [("test raised", [traceback.format_exc()[-1500:]])]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", action="append", help="test only this interpreter (repeatable)")
    ap.add_argument("--feature-python", help="interpreter for the browser and daemon checks")
    ap.add_argument("-j", "--jobs", type=int, default=3, help="interpreters tested at once (default 3)")
    ap.add_argument("--no-daemon", action="store_true", help="leave out the watch daemon's checks")
    args = ap.parse_args()

    got = lc.interpreters_to_test(args.python, "FAIL  ")
    if got is None:
        return 1
    os.makedirs(OUT, exist_ok=True)
    found, skips = got
    if not found:
        print("skip: no Python interpreter installed")
        return 77
    feature = args.feature_python
    if not feature:
        dp = lc.default_python()
        paths = [p for _, p in found]
        py3 = [p for v, p in found if v.startswith("3.")]
        feature = dp if dp in paths else (py3 or paths)[-1]
    print("# browser and daemon checks with %s" % feature)

    t0 = time.monotonic()
    totals = [0, 0, 0]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs) + 2) as ex:
        daemons = [] if args.no_daemon else [ex.submit(guarded, check_daemon, feature, short)
                                             for short in (True, False)]
        futs = [(v, p, ex.submit(guarded, test_interpreter, v, p, p == feature)) for v, p in found]
        for v, p, f in futs:
            c = report("python %s (%s)" % (v, p), f.result())
            totals = [a + b for a, b in zip(totals, c)]
        for short, f in zip((True, False), daemons):
            c = report("watch daemon, python %s%s" % (feature, "" if short else ", 100 KB names"), f.result())
            totals = [a + b for a, b in zip(totals, c)]
    print("\n%s: %d checks passed, %d failed, %d skipped on %d interpreters (%.0fs)" % (
        "FAIL" if totals[1] else "ok", totals[0], totals[1], totals[2], len(found), time.monotonic() - t0))
    return 1 if totals[1] else 0


if __name__ == "__main__":
    lc.run_main(main)
