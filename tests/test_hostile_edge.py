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


# --- the client: replies of a broken or hostile server ------------------------------------------------------------

class FakeServer:
    """An HTTP server on loopback answering /health like vst-edge and POST /stylize with `reply`:
    (status, headers, body); body None echoes the frame."""

    def __init__(self, reply, health=b'{"status": "ok", "model": "fake"}'):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, headers, body):
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._send(200, {"Content-Type": "application/json"}, health)

            def do_POST(self):
                frame = self.rfile.read(int(self.headers["Content-Length"]))
                status, headers, body = reply
                self._send(status, headers, frame if body is None else body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


HOSTILE_BODY = ("\x1b[31mTraceback\x1b[0m\x07\r\n" + "x" * 2000 + "\x00\x9b").encode()


@pytest.mark.parametrize("reply,needles", [
    ((200, {"X-Vst-Batch": "abc"}, None), ["server", "X-Vst-Batch", "malformed"]),
    ((200, {"X-Vst-Seconds": "soon"}, None), ["server", "X-Vst-Seconds", "malformed"]),
    ((200, {}, b"<html>not a frame</html>"), ["server", "not a PNG or JPEG"]),
    ((500, {}, HOSTILE_BODY), ["server failed", "500", "its log"]),
    ((502, {}, b""), ["server failed", "502"]),
    ((404, {}, b"Not Found"), ["not a vst-edge server", "check the URL"]),
    ((415, {}, HOSTILE_BODY), ["refused the frame", "415"]),
])
def test_client_errors_name_the_side_that_failed_in_a_short_clean_line(reply, needles):
    from vst.common.errors import VstError
    from vst.runtimes.remote import edge_keyframe_stylizer
    with FakeServer(reply) as s:
        with pytest.raises(VstError) as err:
            edge_keyframe_stylizer(s.url)(np.zeros((16, 16, 3), np.uint8))
    msg = str(err.value)
    assert msg.isprintable() and len(msg) < 400, msg  # no escape bytes, no 2000-character echo
    for n in needles:
        assert n.lower() in msg.lower(), msg


@pytest.mark.parametrize("health", [b"[" * 60000, b'"ok"', b"\x1b[2J<html>", b'{"status": "down"}'])
def test_a_health_answer_not_like_vst_edge_is_one_line(health):
    from vst.common.errors import VstError
    from vst.runtimes.remote import edge_keyframe_stylizer
    with FakeServer((200, {}, None), health=health) as s:
        with pytest.raises(VstError, match="not answer as a vst-edge server does") as err:
            edge_keyframe_stylizer(s.url)
    assert str(err.value).isprintable() and len(str(err.value)) < 200


def test_edge_stylize_against_a_malformed_reply_is_one_line(capsys, tmp_path):
    from test_hostile_inputs import one_line
    from vst.edge.cli import main
    from vst.video.codec import make_clip
    clip = make_clip(tmp_path / "c.mp4", size=(32, 32), seconds=0.12, fps=25)
    with FakeServer((200, {"X-Vst-Batch": "abc"}, None)) as s:
        one_line(capsys, main, ["stylize", s.url, "--input", clip, "--out", tmp_path / "out"], "X-Vst-Batch")
    assert list((tmp_path / "out").glob("frame_*.png")) == []


# --- vst-edge stylize: what an --out folder already holds ----------------------------------------------------------

def test_frames_of_another_clip_or_model_in_out_are_not_kept(tmp_path, write_video):
    """Kept frames are keyed by the input's content and the server's model: another clip (even at the same
    path), another model, or frames without a record are refused in one line, and left as they were."""
    from vst.common.errors import VstError
    from vst.edge.clip import stylize_clip
    rng = np.random.default_rng(0)
    a = write_video(tmp_path / "a.avi", [rng.integers(0, 256, (32, 48, 3), np.uint8) for _ in range(3)])
    b = write_video(tmp_path / "b.avi", [rng.integers(0, 256, (32, 48, 3), np.uint8) for _ in range(3)])
    same_as_a = tmp_path / "copy of a.avi"
    same_as_a.write_bytes(a.read_bytes())
    out, quiet = tmp_path / "out", {"log": lambda s: None}
    model_a = b'{"status": "ok", "model": "m.onnx", "identity": "onnx:aaaa"}'
    with FakeServer((200, {}, None), health=model_a) as s:
        assert len(stylize_clip(s.url, a, out, **quiet)) == 3
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        with pytest.raises(VstError, match="another input clip") as err:
            stylize_clip(s.url, b, out, **quiet)
        assert "\n" not in str(err.value) and "--out" in str(err.value)
        b.replace(tmp_path / "a.avi")  # the same path, other content
        with pytest.raises(VstError, match="another input clip"):
            stylize_clip(s.url, a, out, **quiet)
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
        logs = []  # the same content at another path: its frames are kept
        stylize_clip(s.url, same_as_a, out, log=logs.append)
        assert logs == [f"all 3 frames were already in {out}"]
    with FakeServer((200, {}, None), health=model_a.replace(b"aaaa", b"bbbb")) as s:
        with pytest.raises(VstError, match="another model"):
            stylize_clip(s.url, same_as_a, out, **quiet)
        # frames that no run of this command recorded (copied in by hand, or an older run) are not trusted
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "frame_00000.png").write_bytes(b"holiday")
        with pytest.raises(VstError, match="no record"):
            stylize_clip(s.url, same_as_a, tmp_path / "other", **quiet)
        assert (tmp_path / "other" / "frame_00000.png").read_bytes() == b"holiday"


def test_a_flood_of_frames_is_answered_at_once_and_health_keeps_answering():
    """120 frames sent at once (bounded: 40 threads x 3, loopback only) to a slow model with a queue of 4: each
    gets 200 or an immediate 503, none waits past its timeout, /health answers 200 throughout, and the server
    serves normally afterwards."""
    import concurrent.futures
    from vst.runtimes.remote import encode_image

    def slow(x):
        time.sleep(0.05)
        return x
    frame = encode_image(np.zeros((32, 48, 3), np.uint8), "png")

    def post():
        req = urllib.request.Request(s.url + "/stylize", data=frame, method="POST",
                                     headers={"Content-Type": "image/png"})
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status, time.monotonic() - t0
        except urllib.error.HTTPError as e:
            return e.code, time.monotonic() - t0

    with InProcessServer(slow, Limits(max_queue=4, max_batch=1, window=0.0, timeout=10)) as s:
        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            replies = [pool.submit(post) for _ in range(120)]
            health = [_health(s.url) for _ in range(3)]
            got = [f.result(timeout=60) for f in replies]
        codes = {code for code, _ in got}
        assert codes <= {200, 503} and 200 in codes and 503 in codes, codes
        assert max(t for code, t in got if code == 503) < 5        # refused at once, not after a queue wait
        assert health == [200, 200, 200]
        assert post()[0] == 200
