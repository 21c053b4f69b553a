#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What the daemon costs: `pyspy-watch watch` watching 50 healthy Python processes. Not part of
`make check`.

Starts TARGETS (default 50) healthy targets (bench/daemon_bench_target.py: 2 in 5 are idle
servers blocked in accept() with a housekeeping thread and idle pool threads, 3 in 5 are workers
doing ~0.2-1 ms of work and sleeping 20-200 ms; 3-5 threads each; stacks 10-30 frames deep), all
with one unique marker on their command line. Then, for each run, writes a config (mode 600)

    [watch:bench]  match = MARKER  rate = RATE  stuck_after = 60s  history = 10m     (one)
    [watch:tNN]    pid = PID ...   (50 watches, same keys)                            (many)

starts `pyspy-watch watch -c CONFIG` (PYSPY_WATCH_JOURNAL_SOCKET=/nonexistent: events on
stderr), waits WARMUP seconds (default 5), and measures over SECONDS (default 30):

  cpu%      (utime+stime) delta of /proc/PID/stat / wall time: % of one core (issue goal < 3%)
  sched%    the same from /proc/PID/schedstat (ns run time; finer than the 10 ms ticks)
  RSS       VmRSS at the end of the window (and its growth over the window), VmHWM (goal < 30 MB)
  samples   sampler_sample() calls counted by a perf uprobe on a private copy of the binary,
            over COUNT seconds (default 5) after the window (so the probe costs nothing in it),
            scaled to the window; vs expected = targets x rate x seconds. "-" without perf.
  us/smpl   the daemon's CPU time / samples
  reads/s   read syscalls per second (/proc/PID/io syscr): the /proc files read per sample
  wakeups/s voluntary context switches per second
  hang      `pyspy-watch: hang:` lines on the daemon's stderr: must be 0 (healthy targets);
            other events (error, target-lost) are printed when there are any

Runs: RATE 10 with each of --watches (default both: one, many), then RATE 5 (the default rate)
with the first. Every process started is killed on exit.

    bench/daemon-bench.py [--python PATH] [--all] [--seconds N] [--warmup N] [--targets N]
                          [--watches one|many|both] [--rates 10,5] [--stuck-after 60s]
                          [--count N] [--no-perf]

Default interpreter: pyenv's 3.11; --all runs pyenv's 3.11, 3.8 and 2.7 and /usr/bin/python3.11.
The binary is $PYSPY_WATCH (relative to the repository root), default ./pyspy-watch. Needs root
(the daemon reads other processes' memory; perf probe). About 2.5 minutes per interpreter.
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
TARGET = os.path.join(ROOT, "bench", "daemon_bench_target.py")
CLK_TCK = os.sysconf("SC_CLK_TCK")
HANG_RE = re.compile(r"^pyspy-watch: hang:", re.M)
EVENT_RE = re.compile(r"^pyspy-watch: ([a-z-]+):", re.M)

_procs = []          # every Popen we started, killed on exit
_probe = [None]      # the perf probe event to delete on exit


def find_python(mm):
    paths = sorted(glob.glob(os.path.join(pyenv_root(), "versions", mm + ".*", "bin", "python")))
    return os.path.realpath(paths[-1]) if paths else None


def version_of(python):
    r = subprocess.run([python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return r.stdout.decode().strip() or "?"


def cleanup():
    for p in list(_procs):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        _procs.remove(p)
    if _probe[0]:
        subprocess.run(["perf", "probe", "-q", "-d", _probe[0]], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        _probe[0] = None


def on_signal(sig, frame):
    cleanup()
    sys.exit(128 + sig)


# ---- /proc ------------------------------------------------------------------------------------

def read(path):
    with open(path) as f:
        return f.read()


def cpu_ticks(pid):
    """utime + stime of pid, in clock ticks."""
    s = read("/proc/%d/stat" % pid)
    f = s[s.rindex(")") + 2:].split()
    return int(f[11]) + int(f[12])


def sched_ns(pid):
    try:
        return int(read("/proc/%d/schedstat" % pid).split()[0])
    except (OSError, ValueError, IndexError):
        return None


def status(pid):
    """VmRSS, VmHWM (KiB), voluntary context switches."""
    out = {}
    for line in read("/proc/%d/status" % pid).splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM", "voluntary_ctxt_switches"):
            out[k] = int(v.split()[0])
    return out


def syscr(pid):
    for line in read("/proc/%d/io" % pid).splitlines():
        if line.startswith("syscr:"):
            return int(line.split()[1])
    return 0


def watched_pids(pid):
    """The processes whose thread files the daemon holds open: the targets it samples."""
    pids = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        m = re.match(r"/proc/(\d+)/task/\d+/stat$", link)
        if m:
            pids.add(int(m.group(1)))
    return pids


# ---- targets ----------------------------------------------------------------------------------

class Targets:
    """n healthy targets: 2 in 5 servers, 3 in 5 workers, 3-5 threads, 10-30 frames."""

    def __init__(self, python, n, marker, tmpdir):
        self.procs = []
        ready = []
        for i in range(n):
            kind = "server" if i % 5 < 2 else "worker"
            threads = 3 + i % 3
            frames = 10 + (i * 7) % 21
            path = os.path.join(tmpdir, "ready-%d" % i)
            p = subprocess.Popen([python, TARGET, kind, str(frames), str(threads), path, "--marker", marker],
                                 stdin=subprocess.DEVNULL, start_new_session=True)
            _procs.append(p)
            self.procs.append(p)
            ready.append(path)
        deadline = time.monotonic() + 60
        for p, path in zip(self.procs, ready):
            while not os.path.exists(path):
                if p.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("target %s did not start (exit %s)" % (path, p.poll()))
                time.sleep(0.05)
        self.pids = [p.pid for p in self.procs]
        self.threads = sum(len(os.listdir("/proc/%d/task" % pid)) for pid in self.pids)

    def cpu_ticks(self):
        return sum(cpu_ticks(pid) for pid in self.pids)

    def alive(self):
        return sum(1 for p in self.procs if p.poll() is None)

    def close(self):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()
            _procs.remove(p)


# ---- the daemon -------------------------------------------------------------------------------

def write_config(path, state_dir, mode, rate, stuck_after, marker, pids):
    keys = "rate = %d\nstuck_after = %s\nhistory = 10m\n" % (rate, stuck_after)
    out = ["[daemon]\nstate_dir = %s\n" % state_dir]
    if mode == "one":
        out.append("[watch:bench]\nmatch = %s\n%s" % (marker, keys))
    else:
        for i, pid in enumerate(pids):
            out.append("[watch:t%02d]\npid = %d\n%s" % (i, pid, keys))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(out))
    os.chmod(path, 0o600)


def setup_probe(binary):
    """A uprobe on sampler_sample() of our private copy of the binary: (perf event name) or None."""
    if not shutil.which("perf"):
        return None
    event = "pswbench%d" % os.getpid()
    r = subprocess.run(["perf", "probe", "-q", "-x", binary, "--add", "%s=sampler_sample" % event],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        print("perf probe failed (samples will show '-'): %s" % r.stderr.decode().strip()[-200:])
        return None
    r = subprocess.run(["perf", "probe", "-l"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    m = re.search(r"(\S+:%s)\b" % event, r.stdout.decode())
    if not m:
        return None
    _probe[0] = m.group(1)
    return m.group(1)


def count_samples(event, pid, seconds):
    r = subprocess.run(["perf", "stat", "-x", ",", "-e", event, "-p", str(pid), "--", "sleep", str(seconds)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for line in r.stderr.decode().splitlines():
        f = line.split(",")
        if len(f) > 2 and event in f[2] and f[0].isdigit():
            return int(f[0])
    return None


def run_daemon(binary, cfg, errpath, targets, warmup, seconds, probe, count_seconds, expected_rate):
    env = dict(os.environ, PYSPY_WATCH_JOURNAL_SOCKET="/nonexistent")
    err = open(errpath, "w")
    d = subprocess.Popen([binary, "watch", "-c", cfg], stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                         env=env, start_new_session=True)
    _procs.append(d)
    res = {}
    try:
        time.sleep(warmup)
        if d.poll() is not None:
            raise RuntimeError("the daemon exited (%s): %s" % (d.returncode, read(errpath)[-500:]))
        res["watched"] = len(watched_pids(d.pid) & set(targets.pids))
        t0, c0, n0, s0, r0, tc0 = time.monotonic(), cpu_ticks(d.pid), sched_ns(d.pid), status(d.pid), \
            syscr(d.pid), targets.cpu_ticks()
        rss_max = s0["VmRSS"]
        end = t0 + seconds
        while time.monotonic() < end:
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
            rss_max = max(rss_max, status(d.pid)["VmRSS"])
        t1, c1, n1, s1, r1, tc1 = time.monotonic(), cpu_ticks(d.pid), sched_ns(d.pid), status(d.pid), \
            syscr(d.pid), targets.cpu_ticks()
        wall = t1 - t0
        res.update(
            wall=wall,
            cpu=100.0 * (c1 - c0) / CLK_TCK / wall,
            sched=100.0 * (n1 - n0) / 1e9 / wall if n0 is not None and n1 is not None else None,
            rss=s1["VmRSS"], rss0=s0["VmRSS"], rss_max=rss_max, hwm=s1["VmHWM"],
            reads=(r1 - r0) / wall,
            wakeups=(s1["voluntary_ctxt_switches"] - s0["voluntary_ctxt_switches"]) / wall,
            targets_cpu=100.0 * (tc1 - tc0) / CLK_TCK / wall,
            expected=expected_rate * wall,
        )
        res["samples"] = None
        if probe:
            n = count_samples(probe, d.pid, count_seconds)
            if n is not None:
                res["rate"] = n / float(count_seconds)
                res["samples"] = res["rate"] * wall
    finally:
        d.send_signal(signal.SIGTERM)
        try:
            d.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(d.pid, signal.SIGKILL)
            d.wait()
        _procs.remove(d)
        err.close()
    text = read(errpath)
    res["hangs"] = len(HANG_RE.findall(text))
    events = {}
    for e in EVENT_RE.findall(text):
        events[e] = events.get(e, 0) + 1
    res["events"] = events
    res["exit"] = d.returncode
    return res


# ---- main -------------------------------------------------------------------------------------

def fmt(v, spec, none="-"):
    return none if v is None else spec % v


def bench(python, args, binary, probe):
    version = version_of(python)
    tmpdir = tempfile.mkdtemp(prefix="daemon-bench-")
    state = os.path.join(tmpdir, "state")
    os.mkdir(state, 0o700)
    marker = "pswbench%dx%x" % (os.getpid(), int(time.time() * 1000) & 0xffffff)
    print("\n== %s (%s): %d targets, window %ds after %ds warm-up, stuck_after %s, load %s"
          % (python, version, args.targets, args.seconds, args.warmup, args.stuck_after,
             " ".join(read("/proc/loadavg").split()[:3])))
    sys.stdout.flush()
    t = Targets(python, args.targets, marker, tmpdir)
    print("   targets: %d processes, %d threads (%.1f per process)" % (len(t.pids), t.threads,
                                                                      t.threads / float(len(t.pids))))
    runs = []
    for i, rate in enumerate(args.rates):
        for mode in (args.watches if i == 0 else args.watches[:1]):
            runs.append((rate, mode))
    rows = []
    try:
        for rate, mode in runs:
            cfg = os.path.join(tmpdir, "watch-%s-%d.ini" % (mode, rate))
            write_config(cfg, state, mode, rate, args.stuck_after, marker, t.pids)
            errpath = os.path.join(tmpdir, "watch-%s-%d.err" % (mode, rate))
            r = run_daemon(binary, cfg, errpath, t, args.warmup, args.seconds, probe, args.count,
                           rate * len(t.pids))
            r.update(rate_cfg=rate, mode=mode)
            rows.append(r)
            print("   %s %2d Hz: cpu %.2f%%, RSS %.1f MiB, %s samples (expected %.0f), %d hang lines"
                  % (mode, rate, r["cpu"], r["rss"] / 1024.0, fmt(r["samples"], "%.0f"), r["expected"],
                     r["hangs"]))
            sys.stdout.flush()
        alive = t.alive()
    finally:
        t.close()
        shutil.rmtree(tmpdir, ignore_errors=True)

    print()
    print("%-5s %-4s %7s %6s %6s %7s %8s %7s %7s %9s %9s %7s %8s %8s %4s"
          % ("watch", "Hz", "watched", "cpu%", "sched%", "RSS MiB", "+RSS KiB", "HWM MiB", "samples",
             "expected", "smpl/s", "us/smpl", "reads/s", "wakeup/s", "hang"))
    ok = True
    for r in rows:
        us = None
        if r["samples"]:
            cpu_s = (r["sched"] if r["sched"] is not None else r["cpu"]) / 100.0 * r["wall"]
            us = cpu_s / r["samples"] * 1e6
        print("%-5s %-4d %4d/%-2d %6.2f %6s %7.1f %8d %7.1f %7s %9.0f %9s %7s %8.0f %8.0f %4d"
              % (r["mode"], r["rate_cfg"], r["watched"], len(t.pids), r["cpu"], fmt(r["sched"], "%.2f"),
                 r["rss"] / 1024.0, r["rss"] - r["rss0"], r["hwm"] / 1024.0, fmt(r["samples"], "%.0f"),
                 r["expected"], fmt(r.get("rate"), "%.0f"), fmt(us, "%.1f"), r["reads"], r["wakeups"],
                 r["hangs"]))
        other = dict((k, v) for k, v in r["events"].items() if k != "hang")
        if other:
            print("      other events on stderr: %s" % ", ".join("%s x%d" % kv for kv in sorted(other.items())))
        if r["hangs"] or r["watched"] < len(t.pids):
            ok = False
    print("targets' own CPU while watched: %s%% of one core (all %d together); %d/%d still alive at the end"
          % (", ".join("%.0f" % r["targets_cpu"] for r in rows), len(t.pids), alive, len(t.pids)))
    goal = [r for r in rows if r["rate_cfg"] == 10]
    if goal:
        worst_cpu = max(r["cpu"] for r in goal)
        worst_hwm = max(r["hwm"] for r in goal) / 1024.0
        print("goal at 10 Hz (< 3%% of a core, < 30 MB): cpu %.2f%% %s, HWM %.1f MiB %s"
              % (worst_cpu, "ok" if worst_cpu < 3 else "OVER", worst_hwm, "ok" if worst_hwm < 30 else "OVER"))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", help="interpreter of the targets (default: pyenv's 3.11)")
    ap.add_argument("--all", action="store_true", help="pyenv's 3.11, 3.8, 2.7 and /usr/bin/python3.11")
    ap.add_argument("--seconds", type=int, default=30, help="measured window (default 30)")
    ap.add_argument("--warmup", type=int, default=5, help="seconds before the window (default 5)")
    ap.add_argument("--targets", type=int, default=50, help="number of targets (default 50)")
    ap.add_argument("--watches", default="both", choices=["one", "many", "both"],
                    help="one match= watch, 50 pid= watches, or both (default)")
    ap.add_argument("--rates", default="10,5", help="rates; the first with every --watches (default 10,5)")
    ap.add_argument("--stuck-after", default="60s", help="stuck_after of the watches (default 60s)")
    ap.add_argument("--count", type=int, default=5, help="seconds of sample counting after the window (default 5)")
    ap.add_argument("--no-perf", action="store_true", help="do not count samples with a perf uprobe")
    args = ap.parse_args()
    args.watches = ["one", "many"] if args.watches == "both" else [args.watches]
    args.rates = [int(x) for x in args.rates.split(",") if x]

    if not os.access(BIN, os.X_OK):
        sys.exit("%s not found: run make first" % BIN)
    if os.geteuid() != 0:
        sys.exit("run as root: the daemon reads other processes' memory")
    if args.all:
        pythons = [find_python("3.11"), find_python("3.8"), find_python("2.7"), "/usr/bin/python3.11"]
        pythons = [p for p in pythons if p and os.access(p, os.X_OK)]
    elif args.python:
        pythons = [args.python]
    else:
        pythons = [find_python("3.11") or "/usr/bin/python3.11"]

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    bindir = tempfile.mkdtemp(prefix="daemon-bench-bin-")
    binary = os.path.join(bindir, "pyspy-watch")
    shutil.copy2(BIN, binary)   # a private copy: our uprobe touches no one else's runs
    ok = True
    try:
        probe = None if args.no_perf else setup_probe(binary)
        print("pyspy-watch: %s (copied to %s); %d CPUs; sample counting: %s"
              % (BIN, binary, os.cpu_count(), "perf uprobe on sampler_sample" if probe else "off"))
        for python in pythons:
            ok = bench(python, args, binary, probe) and ok
    finally:
        cleanup()
        shutil.rmtree(bindir, ignore_errors=True)
    if not ok:
        print("\nWARNING: a hang line was raised, or not every target was watched (see above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
