"""Hostile and careless use of vst-edge: idle connections held open, a model that is not a stylizer, a server
whose replies are malformed, an --out folder holding another clip's frames. Each ends in one line naming the
side that failed, or is answered and bounded; nothing hangs, nothing is mixed."""
import socket
import threading
import time
import urllib.error
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


def _onnx(path, nodes, out_shape, inits=()):
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], list(inits))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def _classifier(path):
    """Image in, 10 class scores out: loads and runs like a stylizer, but gives no image."""
    from onnx import numpy_helper
    w = numpy_helper.from_array(np.random.default_rng(0).random((10, 3, 3, 3), np.float32), "w")
    from onnx import helper
    return _onnx(path, [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                        helper.make_node("GlobalAveragePool", ["c"], ["p"]),
                        helper.make_node("Flatten", ["p"], ["y"])], [1, 10], [w])


def _nan_model(path):
    from onnx import helper
    return _onnx(path, [helper.make_node("Log", ["x"], ["l"]), helper.make_node("Sub", ["l", "l"], ["y"])],
                 [1, 3, "h", "w"])  # log(0) - log(0) = -inf + inf: NaN where the frame is black


@pytest.mark.parametrize("make,needle", [(_classifier, "not images of their size"), (_nan_model, "NaN")])
def test_serve_refuses_a_model_that_does_not_stylize(capsys, tmp_path, make, needle):
    from test_hostile_inputs import one_line
    from vst.edge.cli import main
    model = make(tmp_path / "model.onnx")
    one_line(capsys, main, ["serve", "-m", model, "--port", "0"], "model.onnx", needle, "stylizer")


def test_a_model_failing_on_a_frame_is_the_servers_500_with_one_line():
    from vst.runtimes.remote import encode_image
    frame = encode_image(np.zeros((32, 48, 3), np.uint8))
    with InProcessServer(runner=lambda x: x.mean(1, keepdim=True)) as s:  # grey: one channel, not three
        req = urllib.request.Request(s.url + "/stylize", data=frame, method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 500
        assert err.value.read().decode().strip() == ("the model gives an output of shape [1, 1, 32, 48] for frames "
                                                     "of shape [1, 3, 32, 48], not images of their size")
        assert _health(s.url) == 200
