"""Ray, for sweeps that outgrow one machine: connecting, where a task ran, and bounded waiting on tasks.

vst uses Ray only when asked (--ray-address ADDR or Ray's own RAY_ADDRESS): a sweep on one machine runs in its own
process as it always did. "local" starts an embedded Ray on this machine (several conversions at a time);
anything else is the address of a cluster started with `ray start`. Ray's logs reach the terminal with -v only.
"""
from __future__ import annotations

import logging
import os
import socket
import sys
import time
from typing import Callable, Iterable

from vst.common.errors import VstError
from vst.common.hostinfo import cpu_name

ADDRESS_ENV = "RAY_ADDRESS"
LOCAL = "local"
# Ray's switch for multi-node clusters; off, a node keeps 127.0.0.1 and its servers listen on loopback only
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
# a wait on tasks wakes this often to check that some node can still run them
POLL_S = 10.0
# a sweep gives up when no live node offers what its tasks need for this long (every node gone)
STALL_S = 120.0
# a task whose node died is run again this many times on another node (Ray's retry); then the cell is left
# unmeasured and a rerun of the command measures it
RETRIES = 2


def address(given: str | None) -> str | None:
    """The cluster to use: --ray-address, else $RAY_ADDRESS, else None (no Ray: the sweep runs in-process)."""
    return given or os.environ.get(ADDRESS_ENV) or None


def connect(addr: str, workers: int | None = None, resources: dict | None = None) -> dict:
    """Join the cluster at `addr` (or start an embedded one for "local", with `workers` CPUs and `resources` on
    its one node); once per process. Returns {nodes, cpus}."""
    # quiet_stderr lowers the "ray" logger to ERROR unless -v: Ray's own logs and its workers' output follow it.
    # Read before Ray is first imported, which sets the logger to INFO.
    verbose = logging.getLogger("ray").getEffectiveLevel() < logging.ERROR
    if addr == LOCAL:
        _loopback_only()
    import ray
    if not ray.is_initialized():
        if addr != LOCAL:
            _reachable(addr)
        kw = {"logging_level": logging.INFO if verbose else logging.ERROR, "log_to_driver": verbose}
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")   # no usage report leaves the machine
        try:
            if addr == LOCAL:
                ray.init(address=LOCAL, num_cpus=workers or os.cpu_count(), resources=resources,
                         include_dashboard=False, **kw)
            else:
                ray.init(address=addr, **kw)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise VstError(f"cannot join the Ray cluster at {addr} ({str(exc).splitlines()[0][:160]}); start it "
                           "with `ray start --head` or give its address with --ray-address HOST:PORT") from None
        if not verbose:
            _hide_raylet_messages()
    alive = [n for n in ray.nodes() if n["Alive"]]
    return {"nodes": len(alive), "cpus": int(sum(n["Resources"].get("CPU", 0) for n in alive))}


def _loopback_only() -> None:
    """An embedded Ray serves this process alone: its servers listen on 127.0.0.1, not on every interface.

    On Linux Ray gives a node the machine's network address and its gRPC servers then listen on all interfaces;
    with its switch for single-machine platforms off (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0) the node's address is
    127.0.0.1 and the GCS and raylet listen there only. Ray reads the switch when first imported; later, the
    same module constant is what it consults."""
    os.environ[LOOPBACK_ENV] = "0"
    if "ray._private.ray_constants" in sys.modules:
        sys.modules["ray._private.ray_constants"].ENABLE_RAY_CLUSTER = False


def _reachable(addr: str, timeout_s: float = 10.0) -> None:
    """Refuse an address whose head does not answer: Ray itself retries an unreachable head for minutes."""
    if "://" in addr or ":" not in addr:     # ray:// (Ray Client) and "auto": Ray's own lookups, which fail fast
        return
    host, _, port = addr.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except ValueError:
        raise VstError(f"--ray-address {addr}: give HOST:PORT of the cluster's head (as `ray start --head` "
                       "prints it), or 'local'") from None
    except OSError as exc:
        raise VstError(f"no Ray cluster answers at {addr} ({exc.strerror or exc}); start its head with `ray start "
                       "--head --port PORT`, or give --ray-address local for one on this machine") from None


def _hide_raylet_messages() -> None:
    """Ray prints its raylets' messages (a node marked dead, a task retried) to stdout whatever log_to_driver
    says; without -v, gather says what matters in one line of vst's instead."""
    import ray._private.worker as worker
    shown = getattr(worker, "print_to_stdstream", None)
    if shown is None:
        return

    def quiet(data, *args, **kwargs):
        if data.get("pid") != "raylet":
            shown(data, *args, **kwargs)
    worker.print_to_stdstream = quiet


def alive_nodes() -> int:
    import ray
    return sum(1 for n in ray.nodes() if n["Alive"])


def node_identity(phone: str | None = None) -> dict:
    """The machine a task runs on, as results record it (environment.node)."""
    import ray
    node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    return {"host": socket.gethostname(), "cpu": cpu_name(), "phone": phone, "ray_node": node}


def offered(resource: str) -> bool:
    """Whether a live node of the cluster offers `resource` (its total, busy or not)."""
    import ray
    return any(n["Alive"] and n["Resources"].get(resource, 0) > 0 for n in ray.nodes())


def unwrap(exc: BaseException) -> BaseException:
    """The error a task raised, out of Ray's wrapper: a VstError from a node is the user's one line."""
    return getattr(exc, "cause", None) or exc


def gather(refs: Iterable, need: str, on_result: Callable, on_lost: Callable, log: Callable = print,
           stall_s: float = STALL_S) -> None:
    """Wait for every task of `refs` (bounded: each wait lasts POLL_S and the whole gives up once no live node has
    offered `need` for stall_s); on_result(ref, value) as each finishes, on_lost(ref, why) for a task whose
    node died beyond Ray's retries; log() says when nodes leave. A task's own error (a VstError, a bug) is
    raised here."""
    import ray
    from ray.exceptions import NodeDiedError, ObjectLostError, RayTaskError, WorkerCrashedError
    pending, since, nodes = list(refs), None, alive_nodes()
    while pending:
        ready, pending = ray.wait(pending, num_returns=1, timeout=POLL_S)
        if (now := alive_nodes()) < nodes:
            log(f"{nodes - now} node(s) of the Ray cluster left ({now} alive): the work they had under way runs "
                "again on the others")
        nodes = now
        for ref in ready:
            try:
                value = ray.get(ref, timeout=POLL_S)
            except (NodeDiedError, WorkerCrashedError, ObjectLostError) as exc:
                on_lost(ref, type(exc).__name__)
                continue
            except RayTaskError as exc:
                raise unwrap(exc) from None
            on_result(ref, value)
        if ready or offered(need):
            since = None
        elif since is None:
            since = time.monotonic()
        elif time.monotonic() - since > stall_s:
            raise VstError(f"no node of the Ray cluster has offered {need} for {stall_s:.0f} s ({len(pending)} "
                           "task(s) waiting); start a node (`ray start --address ...`, see docs/cluster.md) and run "
                           "the same command again: finished work is kept")
