"""The edge server (vst-edge serve) on loopback: a clip stylized through it equals local stylization, frames from
concurrent clients are batched, bad and oversized frames are refused, a full queue answers 503, and a server
killed mid-clip leaves the client with one line and the frames it finished."""
import asyncio
import io
import json
import struct
import threading
import time
import urllib.error
import urllib.request
import zlib

import numpy as np
import pytest
import torch

from vst.common.cli import run_cli
from vst.common.errors import VstError
from vst.edge.bench import LocalServer
from vst.edge.clip import RUN_RECORD, frame_path, stylize_clip
from vst.edge.server import Batcher, Limits
from vst.runtimes.remote import EdgeUnavailable, decode_image, edge_keyframe_stylizer, encode_image
from vst.runtimes.stylizer import load_runner
from vst.video.codec import decode_frames, make_clip

MODEL = "kunster.a025-s05-stage2"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "c.mp4", size=(64, 48), seconds=0.32, fps=25)  # 8 frames


@pytest.fixture(scope="module")
def server():
    # a 0.3 s batching window so that the concurrent requests below land in one batch whatever the load
    with LocalServer(MODEL, threads=1, extra=["--window", "0.3", "--max-bytes", "200000",
                                             "--max-pixels", str(640 * 480)]) as s:
        yield s


def _post(url, body, ctype="image/png"):
    req = urllib.request.Request(url + "/stylize", data=body, method="POST", headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_clip_through_the_edge_equals_local_stylization(server, clip, tmp_path):
    assert server.url.startswith("http://127.0.0.1:")
    health = edge_keyframe_stylizer(server.url).health()
    assert health["status"] == "ok" and health["model"] == MODEL
    written = stylize_clip(server.url, clip, tmp_path / "out", log=lambda s: None)
    assert len(written) == 8
    runner = load_runner(MODEL)
    for i, (rgb, _, _) in enumerate(decode_frames(clip)):
        with open(written[i], "rb") as fh:
            remote, _ = decode_image(fh.read(), 10**6)
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
        local = (runner(x).clamp(0, 1)[0].permute(1, 2, 0) * 255 + 0.5).to(torch.uint8).numpy()
        assert np.abs(remote.astype(int) - local).max() <= 1  # PNG is lossless: only float rounding differs
    # a rerun sends nothing: finished frames are kept
    logs = []
    stylize_clip(server.url, clip, tmp_path / "out", log=logs.append)
    assert logs == [f"all 8 frames were already in {tmp_path / 'out'}"]


def test_concurrent_clients_are_batched_and_jpeg_comes_back_as_jpeg(server):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 64, 3), np.uint8) for _ in range(4)]
    results = [None] * 4

    def send(i):
        s = edge_keyframe_stylizer(server.url, fmt="jpeg", check=False)
        out = s(frames[i])
        results[i] = (out.shape, s.last.batch, s.last.bytes_up, s.last.bytes_down)
    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None and r[0] == (48, 64, 3) for r in results)
    assert max(r[1] for r in results) >= 2, results  # several frames went through the model in one batch
    status, body = _post(server.url, encode_image(frames[0], "jpeg"), "image/jpeg")
    assert status == 200 and body[:3] == b"\xff\xd8\xff"


def _png_header_only(width, height):
    """A tiny PNG whose header declares width x height (a decompression bomb's shape)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


def test_bad_and_oversized_frames_are_refused(server):
    assert _post(server.url, b"not an image")[0] == 415
    assert _post(server.url, b"\0" * 300_000)[0] == 413                 # over --max-bytes, not read whole
    status, body = _post(server.url, _png_header_only(20000, 20000))   # declares 400 Mpx in 80 bytes
    assert status == 413 and b"limit" in body
    big = np.zeros((600, 800, 3), np.uint8)                             # 480000 px > 640x480
    with pytest.raises(VstError, match="refused the frame .413"):
        edge_keyframe_stylizer(server.url, check=False)(big)
    with urllib.request.urlopen(server.url + "/health", timeout=10) as r:
        assert json.loads(r.read())["status"] == "ok"                   # still serving


def test_full_queue_answers_at_once_and_slow_frames_time_out():
    calls = []

    def slow(x):
        calls.append(len(x))
        time.sleep(0.3)
        return x

    async def scenario():
        b = Batcher(slow, Limits(max_queue=1, max_batch=1, window=0.0, timeout=5))
        b.start()
        frame = np.zeros((8, 8, 3), np.uint8)
        first = asyncio.create_task(b.submit(frame))
        await asyncio.sleep(0.05)                     # the worker holds the first frame
        second = asyncio.create_task(b.submit(frame))
        await asyncio.sleep(0.01)                     # the second waits in the queue of 1
        with pytest.raises(asyncio.QueueFull):
            await b.submit(frame)
        await asyncio.gather(first, second)
        b.limits.timeout = 0.05
        with pytest.raises(asyncio.TimeoutError):
            await b.submit(frame)
        await b.stop()
        return b.stats
    stats = asyncio.run(scenario())
    assert stats["refused_full"] == 1 and stats["timed_out"] == 1 and stats["frames"] >= 2


def test_killed_server_the_client_says_so_and_keeps_finished_frames(clip, tmp_path, capsys):
    out = tmp_path / "out"
    with LocalServer(MODEL, threads=1) as s:
        def kill_after_third(i):
            if i == 2:
                s.proc.kill()
                s.proc.wait()
        with pytest.raises(EdgeUnavailable) as err:
            stylize_clip(s.url, clip, out, log=lambda m: None, on_frame=kill_after_third)
    msg = str(err.value)
    assert "\n" not in msg and "after 3 of 8 frames" in msg and "kept" in msg
    assert sorted(p.name for p in out.iterdir()) == [RUN_RECORD] + [frame_path(out, i).name for i in range(3)]
    # the command line: one line on stderr, exit 2, the frames stay
    from vst.edge.cli import main
    code = run_cli(main, ["stylize", s.url, "--input", str(clip), "--out", str(out)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "does not answer" in lines[0]
    assert len(list(out.iterdir())) == 4  # the three frames and their run record


def test_vst_stylize_sends_key_frames_to_the_edge_and_interpolates_the_rest(server, clip, tmp_path, capsys):
    """002's split: with --edge, key frames go to the server and the rest are interpolated here; the output is
    the same video a local key-frame run writes (PNG is lossless), and the run reports round trips and bytes."""
    from vst.stylize.cli import main as stylize_main
    from vst.stylize.video import output_frames
    remote, local = tmp_path / "edge.mp4", tmp_path / "local.mp4"
    assert run_cli(stylize_main, [str(clip), "--edge", server.url, "-m", MODEL, "--keyframes", "every:4",
                                  "-o", str(remote), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["frames"] == 8 and stats["edge"]["frames_sent"] == 2          # frames 0 and 4
    assert stats["edge"]["bytes_up_mean"] > 0 and stats["edge"]["round_trip_ms_median"] > 0
    assert stats["edge"]["speedup_vs_local"] > 0
    assert run_cli(stylize_main, [str(clip), "-m", MODEL, "--keyframes", "every:4", "-o", str(local)]) == 0
    a, b = output_frames(remote), output_frames(local)
    assert len(a) == len(b) == 8
    assert max(np.abs(x.astype(int) - y).mean() for x, y in zip(a, b)) < 1.0
    out = tmp_path / "down.mp4"
    assert run_cli(stylize_main, [str(clip), "--edge", "http://127.0.0.1:9", "-o", str(out)]) == 2
    assert "does not answer" in capsys.readouterr().err and not out.exists()


def test_bench_prints_one_table5_row_per_resolution(server, tmp_path, capsys):
    from vst.edge.bench import run_bench
    out = tmp_path / "t5.json"
    rows = run_bench(MODEL, [(64, 48), (96, 64)], frames=2, delays=[0.0, 0.05], url=server.url, threads=1,
                     out=out, log=lambda s: None)
    assert [(r["resolution"], r["delay_s"]) for r in rows] == [("64x48", 0.0), ("64x48", 0.05),
                                                               ("96x64", 0.0), ("96x64", 0.05)]
    for r in rows:
        assert r["network_s"] >= r["delay_s"] and r["edge_round_trip_s"] >= r["server_s"] + r["delay_s"]
        assert r["bytes_up"] > 0 and r["bytes_down"] > 0 and r["speedup_eq6"] > 0
    assert json.loads(out.read_text())["rows"] == rows
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1].startswith("| Resolution | network, loopback (s) | network, loopback + 50 ms (s) |")
    assert [line.split(" | ")[0] for line in lines[3:]] == ["| 64x48", "| 96x64"]  # one row per resolution


def test_bench_refuses_a_bad_delay_list(capsys):
    from vst.edge.cli import main
    assert run_cli(main, ["bench", "-m", MODEL, "--delay", "0,fast"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
