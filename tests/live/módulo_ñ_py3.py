# -*- coding: utf-8 -*-
# SPDX-License-Identifier: MIT
# Python 3 only helper of target.py: a non-ASCII function name in a non-ASCII file, and a
# generator delegating with `yield from` (both syntax errors on Python 2).
# Keep every call on one line: tests compare line numbers.


def función_ü(ev, ready):
    ready()
    ev.wait()


def inner_gen(ev, ready):
    yield 1
    ready()
    ev.wait()
    yield 2


def delegator(ev, ready):
    yield 0
    result = yield from inner_gen(ev, ready)
    yield result


def consume_delegator(ev, ready):
    total = 0
    for value in delegator(ev, ready):
        total += value
    return total
