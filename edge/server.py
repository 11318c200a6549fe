"""The edge server of 002 (section 3): stylizes key frames that phones send, on FastAPI + uvicorn.

Why FastAPI + uvicorn: both are kept and widely deployed, Flower (the federated framework vst-train
--federated uses) already depends on them, so they add nothing to install; the asyncio event loop makes the
micro-batching queue below a few lines. Connections are bounded by vst.edge.connections (header deadline, idle
connections evicted past the limit) rather than uvicorn's concurrency limit, which idle sockets could fill.

Requests: `POST /stylize` with a PNG or JPEG body -> the stylized frame in the same format; `GET /health` ->
JSON. Frames from clients that arrive within `window` seconds of each other are stylized as one batch (frames
of the same size are stacked into one tensor). The queue is bounded (503 when full), every request has a
deadline (504), bodies over `max_bytes` are refused (413) before they are read whole, and images whose header
declares more than `max_pixels` are refused (413) before they are decoded.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from vst.common.errors import VstError, first_line
from vst.runtimes.remote import FORMATS, decode_image, encode_image
from vst.runtimes.stylizer import Runner, load_runner


@dataclass
class Limits:
    max_bytes: int = 16 << 20         # one 4096x4096 PNG at compress level 1 is about 40 MB: 1080p ones are ~4 MB
    max_pixels: int = 2048 * 2048     # 002's largest resolution is 1920x1080
    max_queue: int = 32               # frames waiting; more get 503 at once rather than a growing delay
    max_batch: int = 8
    window: float = 0.005             # seconds the batcher waits for more frames after the first
    timeout: float = 30.0             # seconds from arrival to reply, else 504
    max_connections: int = 64         # open at once; beyond, the longest-idle one is closed (edge.connections)
    idle_timeout: float = 5.0         # seconds a connection may take to send a request's headers


class ModelFailure(Exception):
    """The model, not the frame, failed: answered 500 with this line."""


def output_problem(y, shape: tuple) -> str | None:
    """What is wrong with `y` as the stylized batch of an NCHW input of `shape`, or None."""
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != tuple(shape):
        got = list(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        return f"gives an output of shape {got} for frames of shape {list(shape)}, not images of their size"
    if not bool(torch.isfinite(y).all()):
        return "gives NaN or infinite values"
    return None


@dataclass
class _Job:
    rgb: np.ndarray
    future: asyncio.Future
    arrived: float = field(default_factory=time.perf_counter)


class Batcher:
    """Collects frames from concurrent requests into batches and runs them on the runner in a worker thread."""

    def __init__(self, runner, limits: Limits):
        self.runner = runner
        self.limits = limits
        self.queue: asyncio.Queue[_Job] | None = None
        self.task: asyncio.Task | None = None
        self.stats = {"frames": 0, "batches": 0, "largest_batch": 0, "refused_full": 0, "timed_out": 0}

    def start(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.limits.max_queue)
        self.task = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass

    async def submit(self, rgb: np.ndarray) -> tuple[np.ndarray, int]:
        job = _Job(rgb, asyncio.get_running_loop().create_future())
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            self.stats["refused_full"] += 1
            raise
        try:
            return await asyncio.wait_for(job.future, self.limits.timeout)
        except asyncio.TimeoutError:
            self.stats["timed_out"] += 1
            raise

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            deadline = loop.time() + self.limits.window
            while len(jobs) < self.limits.max_batch:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    jobs.append(await asyncio.wait_for(self.queue.get(), left))
                except asyncio.TimeoutError:
                    break
            jobs = [j for j in jobs if not j.future.done()]  # requests that timed out meanwhile cost nothing
            if not jobs:
                continue
            try:
                outs = await loop.run_in_executor(None, self._run, [j.rgb for j in jobs])
            except Exception as exc:  # reported to each waiting request, the server keeps serving
                for j in jobs:
                    if not j.future.done():
                        j.future.set_exception(exc)
                continue
            self.stats["frames"] += len(jobs)
            self.stats["batches"] += 1
            self.stats["largest_batch"] = max(self.stats["largest_batch"], len(jobs))
            for j, out in zip(jobs, outs):
                if not j.future.done():
                    j.future.set_result((out, len(jobs)))

    def _run(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Stylize frames; frames of one size go through the runner as one NCHW batch."""
        outs: list[np.ndarray | None] = [None] * len(frames)
        groups: dict[tuple, list[int]] = {}
        for i, f in enumerate(frames):
            groups.setdefault(f.shape, []).append(i)
        for idx in groups.values():
            x = torch.from_numpy(np.stack([frames[i] for i in idx])).permute(0, 3, 1, 2).float() / 255
            with torch.no_grad():
                y = self.runner(x)
            problem = output_problem(y, x.shape)
            if problem:
                raise ModelFailure(f"the model {problem}")
            y = (y.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
            for k, i in enumerate(idx):
                outs[i] = np.ascontiguousarray(y[k])
        return outs


def create_app(runner: Runner, limits: Limits = Limits(), name: str = ""):
    """The ASGI app serving `runner` (any vst.runtimes.stylizer Runner, or a callable NCHW -> NCHW)."""
    from contextlib import asynccontextmanager

    batcher = Batcher(runner, limits)

    @asynccontextmanager
    async def lifespan(_app):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="vst edge stylizer", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.batcher = batcher

    def error(code: int, text: str):
        return Response(text + "\n", status_code=code, media_type="text/plain")

    @app.get("/health")
    async def health():
        return JSONResponse({"status": "ok", "model": name or getattr(runner, "name", ""),
                             # the model's content (vst.runtimes identity): clients key their kept frames by it
                             "identity": getattr(runner, "identity", ""),
                             "queued": batcher.queue.qsize() if batcher.queue else 0,
                             "max_queue": limits.max_queue, "max_batch": limits.max_batch,
                             "max_bytes": limits.max_bytes, "max_pixels": limits.max_pixels, **batcher.stats})

    @app.post("/stylize")
    async def stylize(request: Request):
        t0 = time.perf_counter()
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limits.max_bytes):
            return error(413, f"frames are limited to {limits.max_bytes} bytes")
        body = bytearray()
        try:
            async with asyncio.timeout(limits.timeout):  # a client that sends slowly cannot hold a slot forever
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > limits.max_bytes:
                        return error(413, f"frames are limited to {limits.max_bytes} bytes")
        except TimeoutError:
            return error(408, f"the frame did not arrive within {limits.timeout:g} s")
        try:
            rgb, fmt = decode_image(bytes(body), limits.max_pixels)
        except VstError as exc:
            return error(413 if "limit" in str(exc) else 415, str(exc))
        try:
            out, batch = await batcher.submit(rgb)
        except asyncio.QueueFull:
            return error(503, f"the queue holds {limits.max_queue} frames already; retry shortly")
        except asyncio.TimeoutError:
            return error(504, f"not stylized within {limits.timeout:g} s")
        except VstError as exc:
            return error(422, str(exc))
        except ModelFailure as exc:
            return error(500, str(exc))
        data = await asyncio.get_running_loop().run_in_executor(None, encode_image, out, fmt)
        return Response(data, media_type=FORMATS[fmt][1],
                        headers={"X-Vst-Batch": str(batch), "X-Vst-Seconds": f"{time.perf_counter() - t0:.6f}"})

    return app


# Errors the runtimes raise about a model they cannot run (ONNX Runtime's, TensorFlow Lite's): at the startup
# check they are the model's fault; anything else stays a traceback, a bug of vst.
_RUNTIME_MODULES = ("onnxruntime", "tensorflow", "ai_edge_litert", "coremltools")


def check_stylizer(runner, name: str) -> None:
    """Stylize one frame before serving: a model that is not an image-to-image network (a classifier, say) would
    otherwise start healthy and answer every frame with 500."""
    w, h = runner.size or (64, 48)
    x = torch.linspace(0, 1, 3 * h * w).reshape(1, 3, h, w)
    try:
        with torch.no_grad():
            y = runner(x)
    except Exception as exc:
        if not type(exc).__module__.startswith(_RUNTIME_MODULES):
            raise
        raise VstError(f"{name} fails on a {w}x{h} test frame ({first_line(exc, 160)}); serve an "
                       "image-to-image stylizer") from None
    problem = output_problem(y, x.shape)
    if problem:
        raise VstError(f"{name} {problem} on a {w}x{h} test frame; vst-edge serve needs an image-to-image "
                       "stylizer")


def make_server(app, limits: Limits = Limits(), host: str = "127.0.0.1", port: int = 8500):
    """The uvicorn server for `app`, with the connection bounds of vst.edge.connections (uvicorn's own
    concurrency limit is left off: it counts idle connections and so answered every request 503)."""
    import uvicorn
    from vst.edge.connections import bounded_h11
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            http=bounded_h11(limits.max_connections, limits.idle_timeout),
                            timeout_keep_alive=5, timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


def serve(model: str, host: str = "127.0.0.1", port: int = 8500, limits: Limits = Limits(),
          threads: int = 2, ready=None, sock=None) -> None:
    """Run the server until interrupted. `sock` (an already bound socket) lets a caller pick a free port."""
    torch.set_num_threads(threads)
    runner = load_runner(model)
    check_stylizer(runner, model)
    app = create_app(runner, limits, name=model)
    server = make_server(app, limits, host, port)
    if ready:
        ready(json.dumps({"model": model, "host": host, "port": sock.getsockname()[1] if sock else port}))
    server.run(sockets=[sock] if sock else None)
