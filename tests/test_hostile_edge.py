"""Hostile and careless use of vst-edge: idle connections held open, a model that is not a stylizer, a server
whose replies are malformed, an --out folder holding another clip's frames. Each ends in one line naming the
side that failed, or is answered and bounded; nothing hangs, nothing is mixed."""
import socket
import threading
import time
import urllib.request

import numpy as np
import pytest

from vst.edge.server import Limits, create_app, make_server


def _identity(x):
    return x


class InProcessServer:
    """make_server's uvicorn on loopback in a thread, serving `runner` (a callable NCHW -> NCHW)."""

    def __init__(self, runner=_identity, limits=Limits()):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = make_server(create_app(runner, limits, name="test"), limits)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def _health(url, timeout=5):
    try:
        with urllib.request.urlopen(url + "/health", timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def _closed_by_peer(sock, wait):
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_idle_connections_neither_starve_health_nor_stay_open():
    """66 idle sockets (over the 64-connection limit) and one sending its headers a line at a time: /health still
    answers 200 at once, and every idle one is closed after the header deadline."""
    with InProcessServer(limits=Limits(idle_timeout=1.0)) as s:
        idle = [socket.create_connection(("127.0.0.1", s.port), timeout=5) for _ in range(66)]
        slow = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        try:
            t0 = time.monotonic()
            assert _health(s.url) == 200
            assert time.monotonic() - t0 < 3
            time.sleep(1.2)
            try:
                slow.sendall(b"X-A: b\r\n")  # a byte now and then does not extend the deadline
            except OSError:
                pass  # closed already
            assert all(_closed_by_peer(c, 3) for c in idle + [slow])
            assert _health(s.url) == 200
        finally:
            for c in idle + [slow]:
                c.close()
