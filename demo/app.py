# SPDX-License-Identifier: MIT
"""A small order-processing service that deadlocks a few seconds in: the demo target.

Two worker threads move money between accounts; each takes the two account locks in its own
order, so sooner or later each holds one lock and waits for the other, for ever. Meanwhile a
third thread is stuck reading from a peer that never answers. This is the 3 a.m. freeze that
pyspy-watch is for.
"""
import socket
import sys
import threading
import time

ledger_lock = threading.Lock()
audit_lock = threading.Lock()


def post_to_ledger(order_id, amount):
    with ledger_lock:
        time.sleep(0.2)           # long enough for the other worker to take audit_lock
        with audit_lock:
            return order_id, amount


def write_audit_record(order_id, api_token):
    with audit_lock:
        time.sleep(0.2)
        with ledger_lock:
            return order_id, api_token


def payments_worker():
    order_id = 0
    while True:
        order_id += 1
        amount = 19.99 * order_id
        if order_id < 20:
            time.sleep(0.1)       # healthy for a couple of seconds
            continue
        post_to_ledger(order_id, amount)


def audit_worker():
    order_id = 0
    api_token = "s3cr3t-token"
    while True:
        order_id += 1
        if order_id < 20:
            time.sleep(0.1)
            continue
        write_audit_record(order_id, api_token)


def fetch_exchange_rates(peer):
    conn = socket.create_connection(peer)
    return conn.recv(4096)        # the peer never answers


def rates_worker(peer):
    while True:
        fetch_exchange_rates(peer)


def main():
    # A peer that accepts and then says nothing.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    threading.Thread(target=payments_worker, name="payments").start()
    threading.Thread(target=audit_worker, name="audit").start()
    threading.Thread(target=rates_worker, name="rates", args=(silent.getsockname(),)).start()
    sys.stdout.write("demo app running as pid %d\n" % __import__("os").getpid())
    sys.stdout.flush()
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
