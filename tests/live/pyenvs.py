# SPDX-License-Identifier: MIT
"""Where pyenv keeps its interpreters: for the live tests (livecommon) and the benchmarks
(bench/), which import it without livecommon's side effects (its signal handlers)."""
import os
import subprocess


def pyenv_root():
    try:
        r = subprocess.run(["pyenv", "root"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           timeout=10)
        root = r.stdout.decode().strip()
        if r.returncode == 0 and root:
            return root
    except (OSError, subprocess.SubprocessError):
        pass
    return os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
