"""Benchmark sweeps on a Ray cluster (vst-bench --ray-address): each cell is a task on the node that measures it,
and its result comes back to this process, which stores it through the same store (save_result) as ever.

- A host cell holds its node's NODE_RESOURCE (one per node) for its whole duration: no two measurements share
  a machine's CPUs. Any node with the resource may take it: its result records which one (environment.node).
- A phone cell needs PHONE_PREFIX + serial, a resource of the node the phone is plugged into (`vst-bench
  --node-resources` lists a node's, found by its own adb / devicectl): it runs there.
- A node that dies mid-cell loses that cell only: Ray runs the task again on another node (common.cluster.RETRIES),
  or a rerun of the command measures it; the store keys results by cell id and this process is its one writer, so
  no cell is stored twice.
- Cells run one at a time per node, repeats back to back (as phone sweeps do): the round-robin of a one-machine
  sweep shares one process's models, which tasks on several machines do not.
- Files reach a node where they are not already (a node of another machine without a shared folder) through Ray's
  object store, checked by content hash and kept in the node's cache.
"""
from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Callable

from vst.bench.artifacts import Artifact
from vst.bench.devices import Device, connected_android, connected_ios, resolve_device
from vst.common import cluster
from vst.common.errors import VstError
from vst.common.fsutil import atomic_write_bytes, sha256_of

NODE_RESOURCE = "vst_bench_node"
PHONE_PREFIX = "phone:"


def phone_resource(serial: str) -> str:
    return PHONE_PREFIX + serial


def node_resources() -> dict[str, float]:
    """This machine's resources for `ray start --resources`: the bench node, and each phone attached and ready
    (asked of adb and xcrun devicectl where they are installed; none is made up)."""
    import shutil
    res = {NODE_RESOURCE: 1.0}
    for tool, listing, ready in (("adb", connected_android, "device"), ("xcrun", connected_ios, "connected")):
        if shutil.which(tool):
            res.update({phone_resource(r["serial"]): 1.0 for r in listing() if r["state"] == ready})
    return res


def cell_resources(dev: Device) -> dict[str, float]:
    """What a cell of `dev` holds while it runs: its phone, or a whole bench node for the host."""
    return {phone_resource(dev.serial): 1.0} if dev.platform != "host" else {NODE_RESOURCE: 1.0}


def task_options(dev: Device) -> dict:
    # num_cpus 0: the bench resource, not Ray's CPU count, keeps measurements apart
    return {"num_cpus": 0, "resources": cell_resources(dev), "max_retries": cluster.RETRIES,
            "retry_exceptions": False}


def connect(address: str, workers: int | None = None) -> dict:
    """Join the cluster; an embedded one ("local") gets `workers` CPUs, this machine's bench node and its phones."""
    return cluster.connect(address, workers, node_resources() if address == cluster.LOCAL else None)


def resolve_on_cluster(name: str, registry: dict) -> Device:
    """--device on a cluster: the host (any bench node), or a phone's serial, resolved by the node it is plugged
    into (this machine may have no adb, or another set of phones)."""
    if name == "host" or (registry.get(name) or {}).get("platform") == "host":
        return resolve_device(name, registry)
    need = phone_resource(name)
    if not cluster.offered(need):
        import ray
        phones = sorted({k[len(PHONE_PREFIX):] for n in ray.nodes() if n["Alive"] for k in n["Resources"]
                         if k.startswith(PHONE_PREFIX)})
        raise VstError(f"no node of the Ray cluster has phone {name!r} (attached: {', '.join(phones) or 'none'}); "
                       "give the serial of an attached phone as --device, and start each node with "
                       "`ray start ... --resources \"$(vst-bench --node-resources)\"`")
    import ray
    task = ray.remote(resolve_device).options(num_cpus=0, resources={need: 0.001})
    return _get(task.remote(name, registry))


def _get(ref):
    import ray
    try:
        return ray.get(ref, timeout=cluster.STALL_S)
    except ray.exceptions.GetTimeoutError:
        raise VstError(f"the Ray cluster did not answer in {cluster.STALL_S:.0f} s; check its nodes with "
                       "`ray status`") from None
    except ray.exceptions.RayTaskError as exc:
        raise cluster.unwrap(exc) from None


def local_file(path: str | Path, sha256: str, fetch: Callable[[], bytes]) -> Path:
    """The file `path` as this node sees it: itself where it is here with that content, else a copy fetched from
    the sweep's machine into this node's cache (named by content, so each file crosses once)."""
    from vst.video.codec import cache_dir
    path = Path(path)
    if path.is_file() and sha256_of(path) == sha256:
        return path
    copy = cache_dir() / "cluster" / f"{sha256}{path.suffix}"
    if not (copy.is_file() and sha256_of(copy) == sha256):
        copy.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(copy, fetch())
        if sha256_of(copy) != sha256:
            raise VstError(f"{path.name} arrived damaged on {copy.parent} (content hash differs); run the sweep again")
    return copy


def _measure_cell(plan: dict, art: Artifact, dev: Device, run_id: str, shipped: dict, make_driver) -> dict:
    """A Ray task: one cell measured on this node (a phone's or a runner's driver from make_driver, else the
    host runner); the result as the store takes it, with the node recorded."""
    import ray

    def here(path, sha):
        return local_file(path, sha, lambda: ray.get(shipped[str(path)]))
    run = json.loads(json.dumps(plan))     # the plan as stored keeps the sweep machine's paths
    clip = here(plan["frame_source"]["path"], plan["frame_source"]["sha256"])
    run["frame_source"]["path"] = str(clip)
    if art.path is not None and art.path.is_file():
        art = dataclasses.replace(art, path=here(art.path, art.sha256))
    elif art.path is not None and not art.path.exists():
        raise VstError(f"{art.path} is a folder that is not on node {cluster.node_identity()['host']}; copy it "
                       "there at the same path or measure it from that node")
    driver = make_driver(dev)
    if driver is None:
        from vst.bench.host import execute_plan
        result = execute_plan(run, art, run_id)
    else:
        driver.prepare()
        with tempfile.TemporaryDirectory() as work:
            result = driver.run_cell(run, art.path, clip, Path(work))
        result["run_id"] = run_id
    result["plan"] = plan
    result["environment"]["node"] = cluster.node_identity(dev.serial if dev.platform != "host" else None)
    return result


def measure_on_cluster(dev: Device, todo: list[tuple[dict, Artifact]], run_id: str, progress: bool, log,
                       store: Callable[[dict], None], make_driver: Callable) -> None:
    """Every cell of `todo` as a task on the cluster; store(result) as each comes back (never twice for a cell).
    Cells lost with their nodes beyond Ray's retries are named, and the command fails so that a rerun measures
    them (the finished ones are kept)."""
    import ray
    from vst.common.progress import bar
    from vst.bench.interleave import cell_label
    files = {p["frame_source"]["path"] for p, _ in todo} | {str(a.path) for _, a in todo
                                                            if a.path is not None and a.path.is_file()}
    # nested in a dict, the references reach the task unresolved: a node fetches only what it lacks
    shipped = {f: ray.put(Path(f).read_bytes()) for f in sorted(files)}
    task = ray.remote(_measure_cell).options(**task_options(dev))
    refs = {task.remote(p, a, dev, run_id, shipped, make_driver): (p, a) for p, a in todo}
    stored, lost = set(), []
    cells_bar = bar(total=len(refs), desc=f"vst-bench {dev.name} (ray)", unit="cell", progress=progress)

    def done(ref, result):
        plan, _ = refs[ref]
        if plan["cell_id"] in stored:   # one answer per task; said, not stored, should Ray ever give two
            log(f"cell {plan['cell_id']} came back twice; kept the first")
            return
        store(result)
        stored.add(plan["cell_id"])
        cells_bar.update(1)

    def gone(ref, why):
        plan, art = refs[ref]
        lost.append(cell_label(plan, art))
        log(f"{cell_label(plan, art)}: its node died and Ray's retries ran out ({why}); not measured")

    try:
        cluster.gather(list(refs), next(iter(cell_resources(dev))), done, gone, log)
    finally:
        cells_bar.close()
    if lost:
        raise VstError(f"{len(lost)} cell(s) were not measured (their nodes died): {', '.join(lost[:3])}"
                       f"{' ...' if len(lost) > 3 else ''}; run the same command again to measure them "
                       "(the other cells are kept)")



def node_of(out_dir: str | Path, cell: str) -> dict | None:
    """The node a stored cell ran on (environment.node), None for a cell measured without Ray."""
    from vst.bench.store import result_path
    return (json.loads(result_path(Path(out_dir), cell).read_text())["environment"]).get("node")


def node_label(node: dict | None) -> str:
    if not node:
        return ""
    ray_node = f" node {node['ray_node'][:8]}" if node.get("ray_node") else ""
    phone = f", phone {node['phone']}" if node.get("phone") else ""
    return f"{node['host']}{ray_node} ({node['cpu']}{phone})"


def with_nodes(out_dir: str | Path, df):
    """load_results' rows with the node each ran on ('node': its label; '' where measured without Ray)."""
    df = df.copy()
    df["node"] = [node_label(node_of(out_dir, c)) for c in df["cell_id"].astype(str)]
    return df


def nodes_caveat(df) -> str:
    """What to say when a table's rows ran on several nodes: their absolute FPS compare only as far as the
    machines do ('' for one node)."""
    labels = sorted({n for n in df.get("node", ()) if n})
    if len(labels) < 2:
        return ""
    return (f"cells ran on {len(labels)} nodes ({'; '.join(labels)}): absolute FPS of cells on different nodes "
            "compare the machines as much as the models; compare models on one node, or with vst-bench --compare")
