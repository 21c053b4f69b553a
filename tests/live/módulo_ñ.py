# -*- coding: utf-8 -*-
# SPDX-License-Identifier: MIT
# Helper of target.py with a non-ASCII file name (loaded by path: the name is not an identifier
# on Python 2). Runs on 2.7 and 3.6+: ASCII identifiers only here; the non-ASCII function name
# lives in módulo_ñ_py3.py. Keep every call on one line: tests compare line numbers.
from __future__ import print_function


def in_nonascii_file(ev, ready):
    ready()
    ev.wait()
