"""vst-bench on a real two-node Ray cluster on this machine (a head and a second node, each its own `ray start`
process tree): cells spread over both, the second node killed mid-sweep, the survivor finishes; nothing lost,
nothing stored twice, every cell's node recorded. Every wait is bounded; only the processes started here are
stopped (by their process groups)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from vst.bench.cluster import NODE_RESOURCE, local_file, phone_resource, task_options
from vst.bench.devices import Device
from vst.bench.store import INDEX, load_results
from vst.common.cluster import LOOPBACK_ENV, node_identity
from vst.common.errors import VstError
from vst.video.codec import make_clip

RAY = str(Path(sys.executable).parent / "ray")
FAKE_PHONE = "FAKE-SERIAL-0"   # declared by the second node for the scheduling test only; nothing measures it
# nodes declared dead within a few seconds of their raylet going away (Ray's defaults take about 30 s)
# Ray's switch for single-machine platforms off: every process of this cluster (nodes, drivers, workers) takes
# 127.0.0.1 as its node's address, and Ray's servers then listen on loopback only
ENV = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_health_check_period_ms="500",
           RAY_health_check_timeout_ms="1000", RAY_health_check_failure_threshold="3", PYTHONWARNINGS="ignore",
           **{LOOPBACK_ENV: "0"})
# That switch also refuses a second node; this one is let in with the loopback address it is given (Ray would
# otherwise replace 127.0.0.1 by the machine's network address)
SECOND_NODE = [sys.executable, "-c", "import ray._private.ray_constants as c, ray._private.services as s\n"
               "c.ENABLE_RAY_CLUSTER = True\ns.resolve_ip_for_localhost = lambda host: host\n"
               "from ray.scripts.scripts import main\nmain()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node(args: list[str], log: Path, head: bool = True) -> subprocess.Popen:
    # its own session: the node's raylet and workers share its process group, which is what is killed
    return subprocess.Popen([*([RAY] if head else SECOND_NODE), "start", "--block", "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
                             "--object-store-memory", str(80 * 2 ** 20), "--disable-usage-stats", *args],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=ENV, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with_group = os.getpgid(proc.pid) == proc.pid
        os.killpg(proc.pid, signal.SIGTERM) if with_group else proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _listening(pids: set[int]) -> set[str]:
    """The addresses on which these processes (and their children) accept connections."""
    import psutil
    tree = set(pids)
    for pid in pids:
        try:
            tree |= {c.pid for c in psutil.Process(pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            pass
    return {c.laddr.ip for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.pid in tree}


def _loopback(ips: set[str]) -> bool:
    return all(ip in ("127.0.0.1", "::1", "::ffff:127.0.0.1") for ip in ips)


def test_cluster_options_refused_in_one_line(tmp_path, monkeypatch):
    from vst.bench.cli import main as bench
    from vst.pipeline.cli import main as run
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    # an address nothing listens on fails at once, not after Ray's minutes of retries
    with pytest.raises(VstError, match="no Ray cluster answers at 127.0.0.1:"):
        bench(["--ray-address", f"127.0.0.1:{_free_port()}", "--model", "kunster-t2-05", "--out", str(tmp_path / "o")])
    with pytest.raises(VstError, match="--workers sets the CPUs of an embedded Ray"):
        run(["--workers", "2", "--out", str(tmp_path / "x")])
    with pytest.raises(VstError, match="--ray-address goes with --model"):
        bench(["--ray-address", "local", "--plots", "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists() and not (tmp_path / "x").exists()


@pytest.fixture(scope="module")
def cluster():
    if not Path(RAY).exists():
        pytest.skip("ray is not installed in this environment (flwr[simulation] brings it)")
    import ray
    # a short folder of its own: Ray's socket paths must stay short, and `ray.init()` elsewhere on this machine
    # must not find this cluster through the default folder
    temp = Path(tempfile.mkdtemp(prefix="vr", dir="/tmp"))
    port = _free_port()
    addr = f"127.0.0.1:{port}"
    procs = []
    try:
        procs.append(_node(["--head", "--port", str(port), "--temp-dir", str(temp), "--include-dashboard=false",
                            "--resources", json.dumps({NODE_RESOURCE: 1})], temp / "head.log"))
        deadline = time.monotonic() + 90
        while subprocess.run([RAY, "status", "--address", addr], capture_output=True, env=ENV,
                             timeout=60).returncode != 0:
            assert time.monotonic() < deadline and procs[0].poll() is None, (temp / "head.log").read_text()[-2000:]
            time.sleep(1)
        procs.append(_node(["--address", addr, "--resources",
                            json.dumps({NODE_RESOURCE: 1, phone_resource(FAKE_PHONE): 1})], temp / "worker.log",
                           head=False))
        os.environ.update({k: ENV[k] for k in ("RAY_USAGE_STATS_ENABLED", LOOPBACK_ENV)})
        import ray._private.ray_constants as constants
        constants.ENABLE_RAY_CLUSTER = False   # this process's driver too (ray may be imported already)
        ray.init(address=addr, logging_level="ERROR", log_to_driver=False)
        while len([n for n in ray.nodes() if n["Alive"]]) < 2:
            assert time.monotonic() < deadline and procs[1].poll() is None, (temp / "worker.log").read_text()[-2000:]
            time.sleep(0.5)
        nodes = [n for n in ray.nodes() if n["Alive"]]
        head = next(n["NodeID"] for n in nodes if "node:__internal_head__" in n["Resources"])
        worker = next(n["NodeID"] for n in nodes if n["NodeID"] != head)
        yield {"address": addr, "head": head, "worker": worker, "worker_proc": procs[1],
               "pids": {p.pid for p in procs} | {os.getpid()}}
    finally:
        ray.shutdown()
        for p in reversed(procs):
            _stop(p)
        shutil.rmtree(temp, ignore_errors=True)


def test_phone_cells_are_scheduled_on_the_node_their_phone_is_plugged_into(cluster):
    import ray
    # nothing leaves loopback: both nodes registered at 127.0.0.1, and every server of the cluster listens there
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    ips = _listening(cluster["pids"])
    assert ips and _loopback(ips), ips
    from vst.bench.cluster import resolve_on_cluster
    phone = Device("fake", "android", serial=FAKE_PHONE)
    assert task_options(phone)["resources"] == {phone_resource(FAKE_PHONE): 1.0}
    task = ray.remote(node_identity).options(**task_options(phone))
    assert {n["ray_node"] for n in ray.get([task.remote() for _ in range(3)], timeout=60)} == {cluster["worker"]}
    # a phone no node has: one line naming the phones the cluster does have
    with pytest.raises(VstError, match=f"no node of the Ray cluster has phone 'NOPE'.*{FAKE_PHONE}"):
        resolve_on_cluster("NOPE", {})


def test_a_file_missing_on_a_node_is_fetched_once_and_checked(tmp_path, monkeypatch):
    from vst.common.fsutil import sha256_of
    monkeypatch.setenv("VST_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "a.tflite"
    src.write_bytes(b"model bytes")
    sha = sha256_of(src)
    assert local_file(src, sha, lambda: pytest.fail("fetched a file that is here")) == src
    calls = []
    far = tmp_path / "elsewhere" / "a.tflite"       # the sweep machine's path, absent on this node
    got = local_file(far, sha, lambda: calls.append(1) or b"model bytes")
    assert got != far and got.read_bytes() == b"model bytes"
    assert local_file(far, sha, lambda: calls.append(1) or b"model bytes") == got and calls == [1]
    with pytest.raises(VstError, match="arrived damaged"):
        local_file(tmp_path / "gone" / "b.tflite", "0" * 64, lambda: b"other bytes")


def test_sweep_survives_a_node_killed_mid_sweep(cluster, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", (96, 64), seconds=0.2, fps=25)
    out = tmp_path / "out"
    sizes = ["32x32", "48x32", "64x48", "32x16", "48x48", "64x32"]
    # 1.5 s of cooldown per cell: a cell is under way on each node for most of the sweep
    cmd = [sys.executable, "-m", "vst.bench.cli", "--ray-address", cluster["address"], "--device", "host",
           "--model", "kunster-t2-05", "--resolutions", ",".join(sizes), "--video", str(clip), "--out", str(out),
           "--repeats", "1", "--frames", "3", "--cooldown", "1.5", "--warmup-frames", "1", "--warmup-seconds", "0",
           "--threads", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV, text=True)
    try:
        # kill the second node as soon as it has stored a cell: it has already taken its next one
        deadline, on_worker = time.monotonic() + 120, []
        while not on_worker and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            for f in (out / "results").glob("*.json") if (out / "results").is_dir() else ():
                try:
                    node = json.loads(f.read_text())["environment"]["node"]
                except (ValueError, KeyError):
                    continue    # being written
                if node["ray_node"] == cluster["worker"]:
                    on_worker.append(f.stem)
        assert on_worker, "the second node never finished a cell"
        os.killpg(cluster["worker_proc"].pid, signal.SIGKILL)
        output, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, output[-3000:]
    df = load_results(out, history=True)
    # every cell once: no row, no result file twice
    assert len(df) == len(sizes) and df["cell_id"].is_unique and set(df["resolution"]) == set(sizes)
    assert len(pd.read_csv(out / INDEX)) == len(sizes)
    nodes = {c: json.loads((out / "results" / f"{c}.json").read_text())["environment"]["node"]
             for c in df["cell_id"]}
    ran_on = {c: n["ray_node"] for c, n in nodes.items()}
    assert set(ran_on.values()) == {cluster["head"], cluster["worker"]}
    # the survivor measured the rest, the cell the dead node had under way among them
    assert sum(v == cluster["head"] for v in ran_on.values()) >= len(sizes) - len(on_worker) - 1
    assert all(n["host"] == socket.gethostname() and n["cpu"] and n["phone"] is None for n in nodes.values())
    # the printed table says where each cell ran, and that absolute FPS across nodes compare the machines too
    assert "node" in output and "cells ran on 2 nodes" in output
    # said once in vst's words; Ray's own messages stay in its logs (-v shows them)
    assert "1 node(s) of the Ray cluster left (1 alive)" in output and "(raylet)" not in output
    # the report too: a node column, and the caveat over FPS of different nodes
    from vst.reports import build_report
    html = Path(build_report([out], tmp_path / "report.html")).read_text()
    assert "<th class=\"l\">node</th>" in html and "Cells ran on 2 nodes" in html
    # each node named in the caveat and on its cells' rows
    assert html.count(f"node {cluster['head'][:8]}") >= 2 and html.count(f"node {cluster['worker'][:8]}") >= 2


def test_an_embedded_ray_listens_on_loopback_only():
    """`--ray-address local` starts Ray for this process alone: none of its servers may face the network."""
    code = ("import json, os, psutil\n"
            "from vst.common.cluster import connect\n"
            "print(json.dumps(connect('local', workers=1)))\n"
            "import ray\n"
            "print(json.dumps(sorted({n['NodeManagerAddress'] for n in ray.nodes()})))\n")
    env = {k: v for k, v in ENV.items() if k != LOOPBACK_ENV}   # vst sets it itself
    proc = subprocess.Popen([sys.executable, "-c", code + "import sys; sys.stdout.flush(); input()"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                            text=True, start_new_session=True)
    try:
        info, addrs = json.loads(proc.stdout.readline()), json.loads(proc.stdout.readline())
        assert info["nodes"] == 1 and info["cpus"] == 1 and addrs == ["127.0.0.1"]
        ips = _listening({proc.pid})
        assert ips and _loopback(ips), ips
        proc.communicate("\n", timeout=60)
    finally:
        _stop(proc)
