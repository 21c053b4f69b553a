#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What `pyspy-watch record --pid` costs: the sampler's CPU and memory, the rate it achieves, the
torn reads it drops, and how much it slows the target. Not part of `make check`.

For each reference target (bench/record_bench_target.py: deep50 = one thread 50 frames deep,
busy; threads8 = 8 threads 30 deep, 4 busy and 4 asleep; deep500 = one thread 500 deep, busy):

  1. the target alone for SECONDS: iterations/s (the target counts its own loop iterations);
  2. `pyspy-watch record --pid PID -r RATE -d SECONDS -f folded` attached, for each RATE
     (default 10000, the maximum, and 100, the default; both non-blocking): samples, CPU per
     sample (user+sys of the record process from wait4 rusage / samples), achieved rate
     (samples / the recording's wall time, from its final stderr line), peak RSS (ru_maxrss),
     errors (torn/failed samples, the final line's "errors") as % of samples, and the target's
     iterations/s while recorded -> slowdown % against the mean of the runs alone;
  3. where Debian's austin (1.0.1) reads the interpreter (2.7 - 3.10; it times out on 3.11+),
     the same with `austin -i 1e6/RATE -p PID -o /dev/null`, stopped with SIGINT after SECONDS,
     and the ratio of CPU per sample pyspy-watch / austin;
  4. the target alone again.

    bench/record-bench.py [--python PATH] [--all] [--seconds N] [--rates 10000,100]
                          [--targets deep50,threads8,deep500] [--no-austin]

Default interpreter: pyenv's 3.11; --all runs 3.11, 3.12, 3.13, 3.10 and 2.7. The binary is
$PYSPY_WATCH (relative to the repository root), default ./pyspy-watch. Run it on an otherwise idle
machine with at least 2 cores (target and sampler each want one).
"""

import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "live"))
from pyenvs import pyenv_root  # noqa: E402
BIN = os.path.join(ROOT, os.environ.get("PYSPY_WATCH") or "pyspy-watch")
TARGET = os.path.join(ROOT, "bench", "record_bench_target.py")
TARGETS = ["deep50", "threads8", "deep500"]
ALL_VERSIONS = ["3.11", "3.12", "3.13", "3.10", "2.7"]
FINAL_RE = re.compile(r"(\d+) samples in ([\d.]+)s \(([\d.]+)/s\), (\d+) errors(?:, (\d+) late)?")
AUSTIN_ERR_RE = re.compile(r"Error rate : (\d+)/(\d+)")

_children = []


def find_python(mm):
    paths = sorted(glob.glob(os.path.join(pyenv_root(), "versions", mm + ".*", "bin", "python")))
    return paths[-1] if paths else None


def version_of(python):
    r = subprocess.run([python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return r.stdout.decode().strip() or "?"


class Target:
    def __init__(self, python, mode, tmpdir):
        self.count_path = os.path.join(tmpdir, "count-%s" % mode)
        self.proc = subprocess.Popen([python, TARGET, mode, self.count_path], stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        _children.append(self.proc)
        self.pid = self.proc.pid
        self.version = version_of(python)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.count_path):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("target %s did not start" % mode)
            time.sleep(0.05)

    def count(self):
        """(time, cpu seconds, iterations) as last reported by the target."""
        for _ in range(100):
            try:
                with open(self.count_path) as f:
                    t, cpu, c = f.read().split()
                return float(t), float(cpu), int(c)
            except (OSError, ValueError):
                time.sleep(0.01)
        raise RuntimeError("cannot read %s" % self.count_path)

    def close(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        _children.remove(self.proc)


def speed(c0, c1):
    """(iterations per second of wall time, iterations per second of the target's CPU time)"""
    nan = float("nan")
    return ((c1[2] - c0[2]) / (c1[0] - c0[0]) if c1[0] > c0[0] else nan,
            (c1[2] - c0[2]) / (c1[1] - c0[1]) if c1[1] > c0[1] else nan)


def alone(target, seconds):
    c0 = target.count()
    time.sleep(seconds)
    return speed(c0, target.count())


def vm_hwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def run_measured(argv, seconds=None, stop_signal=None):
    """Runs argv (stopping it with stop_signal after seconds, if given); returns rc, stderr text,
    rusage, peak RSS in KiB, wall.

    The peak RSS is the last VmHWM read from /proc while it runs (every 50 ms), not wait4's
    ru_maxrss: that one also counts the memory of the forking Python before the exec."""
    t0 = time.monotonic()
    errf = tempfile.TemporaryFile()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=errf, start_new_session=True)
    _children.append(p)
    hwm, stop_at = 0, (t0 + seconds) if stop_signal is not None else None
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            break
        h = vm_hwm_kib(p.pid)
        if h:
            hwm = max(hwm, h)
        if stop_at and time.monotonic() >= stop_at:
            p.send_signal(stop_signal)
            stop_at = None
        time.sleep(0.05)
    p.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status
    _children.remove(p)
    errf.seek(0)
    err = errf.read().decode("utf-8", "replace")
    errf.close()
    return p.returncode, err, ru, hwm, time.monotonic() - t0


def measure_record(target, rate, seconds, tmpdir):
    out = os.path.join(tmpdir, "out.txt")
    c0 = target.count()
    rc, err, ru, hwm, wall = run_measured([BIN, "record", "--pid", str(target.pid), "-r", str(rate),
                                      "-d", str(seconds), "-f", "folded", "-o", out])
    c1 = target.count()
    m = None
    for line in reversed(err.splitlines()):
        m = FINAL_RE.search(line)
        if m:
            break
    if rc != 0 or not m:
        return {"error": "record exited %s: %s" % (rc, err.strip()[-300:])}
    samples, secs, errors = int(m.group(1)), float(m.group(2)), int(m.group(4))
    cpu = ru.ru_utime + ru.ru_stime
    return {"samples": samples, "cpu_us": cpu / max(samples, 1) * 1e6, "rate": samples / secs if secs else 0,
            "rss_kib": hwm, "errors_pct": 100.0 * errors / max(samples, 1), "late": m.group(5),
            "speed": speed(c0, c1)}


def austin_reads(target, tmpdir):
    """None when austin's stacks of the target name its functions, else why not: austin 1.0.1
    attaches to interpreters it does not know (3.11+) and prints garbage or nothing."""
    out = os.path.join(tmpdir, "austin.txt")
    rc, err, ru, hwm, wall = run_measured(["austin", "-i", "10000", "-p", str(target.pid), "-o", out],
                                          1.0, signal.SIGINT)
    try:
        with open(out, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        os.unlink(out)
    except OSError:
        lines = []
    good = [l for l in lines if "work (" in l and "record_bench_target.py" in l]
    if not good:
        last = (err.strip().splitlines() or [""])[-1]
        return "austin does not read python %s: %d lines, none in work() (%s)" % (
            target.version, len(lines), last[:80])
    return None


def measure_austin(target, rate, seconds):
    interval = max(1, int(round(1e6 / rate)))
    try:
        nthreads = len(os.listdir("/proc/%d/task" % target.pid))
    except OSError:
        nthreads = 1
    c0 = target.count()
    rc, err, ru, hwm, wall = run_measured(["austin", "-i", str(interval), "-p", str(target.pid), "-o", os.devnull],
                                     seconds, signal.SIGINT)
    c1 = target.count()
    m = AUSTIN_ERR_RE.search(err)
    if not m or int(m.group(2)) == 0:
        return {"error": "austin exited %s: %s" % (rc, err.strip().splitlines()[-1:] or "")}
    # austin counts one sample per thread and tick; ours count ticks (one sample of the whole
    # process): compare ticks.
    samples, errors = int(m.group(2)) // max(nthreads, 1), int(m.group(1)) // max(nthreads, 1)
    cpu = ru.ru_utime + ru.ru_stime
    return {"samples": samples, "cpu_us": cpu / samples * 1e6, "rate": samples / wall,
            "rss_kib": hwm, "errors_pct": 100.0 * errors / samples, "late": None,
            "speed": speed(c0, c1)}


def pct_slower(with_, alone_):
    return 100.0 * (1 - with_ / alone_) if alone_ and with_ == with_ else float("nan")


def fmt_row(version, mode, tool, rate, r, base, ratio=None):
    if "error" in r:
        return "%-7s %-9s %-12s %6s  %s" % (version, mode, tool, rate, r["error"])
    return ("%-7s %-9s %-12s %6d %8d %9.1f %9.0f %8.1f %8.1f%% %8.1f%% %7.2f%%%s" % (
        version, mode, tool, rate, r["samples"], r["cpu_us"], r["rate"], r["rss_kib"] / 1024.0,
        pct_slower(r["speed"][0], base[0]), pct_slower(r["speed"][1], base[1]),
        r["errors_pct"], "" if ratio is None else "   x%.2f" % ratio))


HEADER = ("%-7s %-9s %-12s %6s %8s %9s %9s %8s %9s %9s %8s  %s" % (
    "python", "target", "sampler", "-r", "samples", "cpu/smpl", "achieved", "peakRSS", "slowdown",
    "slowdown", "errors", "cpu/smpl vs austin"))
UNITS = "%-7s %-9s %-12s %6s %8s %9s %9s %8s %9s %9s %8s" % (
    "", "", "", "Hz", "ticks", "us", "Hz", "MiB", "wall", "cpu", "")


def mean_speed(speeds):
    return tuple(sum(s[i] for s in speeds) / len(speeds) for i in (0, 1))


def bench_python(python, args, tmpdir):
    """Alone and sampled windows alternate (A S1 A S2 ... A): each sampled window is compared
    with the mean of the two windows alone around it, so a drift of the machine's speed (other
    load, frequency) shows less in the slowdown."""
    version = version_of(python)
    austin = None if args.no_austin else shutil.which("austin")
    rows = []
    for mode in args.targets:
        t = Target(python, mode, tmpdir)
        try:
            time.sleep(1.0)       # past start-up
            runs = []
            why = austin_reads(t, tmpdir) if austin else None
            if why:
                print("# %s %s: %s" % (version, mode, why))
            for rate in args.rates:
                runs.append(("pyspy-watch", rate))
                if austin and not why:
                    runs.append(("austin", rate))
            bases = [alone(t, args.seconds)]
            results = []
            for tool, rate in runs:
                if tool == "austin":
                    r = measure_austin(t, rate, args.seconds)
                else:
                    r = measure_record(t, rate, args.seconds, tmpdir)
                bases.append(alone(t, args.seconds))
                results.append((tool, rate, r, mean_speed(bases[-2:])))
            mean = mean_speed(bases)
            spread = [100.0 * (max(b[i] for b in bases) - min(b[i] for b in bases)) / mean[i] for i in (0, 1)]
            print("# %s %s: alone %.0f iterations/s of wall time, %.0f per CPU second (%d runs alone, "
                  "max-min %.1f%% / %.1f%% of the mean)" % (version, mode, mean[0], mean[1], len(bases),
                                                            spread[0], spread[1]))
            cpu = {}
            for tool, rate, r, base in results:
                if "error" not in r:
                    cpu[(tool, rate)] = r["cpu_us"]
            for tool, rate, r, base in results:
                ratio = None
                if tool == "pyspy-watch" and (tool, rate) in cpu and cpu.get(("austin", rate)):
                    ratio = cpu[(tool, rate)] / cpu[("austin", rate)]
                rows.append(fmt_row(version, mode, tool, rate, r, base, ratio))
                print(rows[-1])
                sys.stdout.flush()
        finally:
            t.close()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", help="interpreter (default: pyenv's 3.11)")
    ap.add_argument("--all", action="store_true", help="pyenv's 3.11, 3.12, 3.13, 3.10 and 2.7")
    ap.add_argument("--seconds", type=float, default=5, help="length of every run (default 5)")
    ap.add_argument("--rates", default="10000,100", help="sampling rates (default 10000,100)")
    ap.add_argument("--targets", default=",".join(TARGETS), help="default " + ",".join(TARGETS))
    ap.add_argument("--no-austin", action="store_true", help="do not run austin for comparison")
    args = ap.parse_args()
    args.rates = [int(x) for x in args.rates.split(",")]
    args.targets = args.targets.split(",")
    for t in args.targets:
        if t not in TARGETS:
            ap.error("unknown target %s" % t)
    if not os.access(BIN, os.X_OK):
        print("%s not found: build it with make, or set PYSPY_WATCH" % BIN, file=sys.stderr)
        return 1
    if args.all:
        pythons = [p for p in (find_python(v) for v in ALL_VERSIONS) if p]
        missing = [v for v in ALL_VERSIONS if not find_python(v)]
        if missing:
            print("# skipped (not installed): %s" % ", ".join(missing))
    else:
        pythons = [args.python or find_python("3.11") or "/usr/bin/python3.11"]
    print("# %s, %d cores, %gs per run; austin: %s" % (
        BIN, os.cpu_count(), args.seconds, "no" if args.no_austin else (shutil.which("austin") or "not installed")))
    print(HEADER)
    print(UNITS)
    tmpdir = tempfile.mkdtemp(prefix="record-bench-")
    rows = []
    try:
        for py in pythons:
            rows += bench_python(py, args, tmpdir)
    finally:
        for p in list(_children):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(tmpdir, ignore_errors=True)
    print("\n" + HEADER + "\n" + UNITS + "\n" + "\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
