"""Stylize on an edge server (002 section 3: key frames go to the edge, the phone interpolates the rest).

The wire format is an image file (PNG, lossless, or JPEG) in the body of `POST /stylize`; the reply is the
stylized frame in the same format. `vst-edge serve` (vst.edge.server) is the server. Only image bytes cross
the wire: nothing received is ever unpickled or evaluated, on either side.

`edge_keyframe_stylizer(url)` is the "stylize one key frame" callable of vst-stylize's key-frame mode
(RGB uint8 HxWx3 in, RGB uint8 HxWx3 of the same size out); it lives in this layer so that any command above
the runtimes can use it.
"""
from __future__ import annotations

import http.client
import io
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import numpy as np

from vst.common.errors import VstError, excerpt

FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg")}
MAX_REPLY_BYTES = 64 << 20  # a stylized 4096x4096 PNG is under this; anything larger is not a frame


class EdgeUnavailable(VstError):
    """The edge server could not be reached or stopped answering (as opposed to refusing a frame)."""


def encode_image(rgb: np.ndarray, fmt: str = "png", quality: int = 90) -> bytes:
    from PIL import Image
    if fmt not in FORMATS:
        raise VstError(f"image format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise VstError(f"a frame must be RGB uint8 HxWx3, got {rgb.dtype} {tuple(rgb.shape)}")
    buf = io.BytesIO()
    # compress_level 1: PNG stays lossless, and level 6 costs more time than it saves on a fast link
    kwargs = {"quality": quality} if fmt == "jpeg" else {"compress_level": 1}
    Image.fromarray(rgb).save(buf, FORMATS[fmt][0], **kwargs)
    return buf.getvalue()


def decode_image(data: bytes, max_pixels: int) -> tuple[np.ndarray, str]:
    """(RGB uint8 HxWx3, 'png'|'jpeg') from PNG or JPEG bytes. The size in the header is checked before any
    pixel is decoded, so a small file that declares a huge image (a decompression bomb) is refused cheaply."""
    from PIL import Image, UnidentifiedImageError
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:  # Pillow's own guard fires first for headers of hundreds of Mpx
        raise VstError(f"the frame's header declares more pixels than this server's limit of {max_pixels}") \
            from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise VstError("the body is not a PNG or JPEG image") from None
    fmt = {"PNG": "png", "JPEG": "jpeg"}.get(img.format or "")
    if fmt is None:
        raise VstError(f"frames must be PNG or JPEG, got {img.format}")
    w, h = img.size
    if w * h > max_pixels:
        raise VstError(f"frame {w}x{h} is over this server's limit of {max_pixels} pixels")
    try:
        rgb = np.asarray(img.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as exc:
        raise VstError(f"the {fmt} frame is damaged ({exc})") from None
    return np.ascontiguousarray(rgb), fmt


@dataclass
class Exchange:
    """One round trip: seconds from sending the request to having the reply decoded, and the bytes moved."""
    seconds: float
    bytes_up: int
    bytes_down: int
    server_seconds: float    # the server's own queue + batch + stylize time (X-Vst-Seconds)
    batch: int               # frames the server stylized together with this one (X-Vst-Batch)


def _check_url(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port               # raises for a port outside 0-65535 or not a number
    except ValueError as exc:    # those, and an unclosed [IPv6 bracket
        raise VstError(f"edge URL {url!r}: {exc}; it must look like http://127.0.0.1:8500") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise VstError(f"edge URL {url!r} must look like http://127.0.0.1:8500")
    return url.rstrip("/")


class EdgeStylizer:
    """Callable RGB uint8 HxWx3 -> stylized RGB uint8 HxWx3, stylized by an edge server.

    `delay` adds that many seconds to every round trip (half before sending, half after the reply) to mimic a
    network farther away than loopback; `last` is the latest Exchange, `history` all of them."""

    def __init__(self, url: str, fmt: str = "png", quality: int = 90, timeout: float = 30.0, delay: float = 0.0):
        self.url = _check_url(url)
        if fmt not in FORMATS:
            raise VstError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        if not (timeout > 0 and delay >= 0):
            raise VstError(f"timeout must be > 0 and delay >= 0 seconds, got {timeout} and {delay}")
        self.fmt, self.quality, self.timeout, self.delay = fmt, quality, timeout, delay
        self.last: Exchange | None = None
        self.history: list[Exchange] = []

    def health(self) -> dict:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=self.timeout) as resp:
                text = resp.read(1 << 16)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            raise EdgeUnavailable(f"edge server {self.url} does not answer /health ({_reason(exc)}); "
                                  "start it with vst-edge serve -m MODEL") from None
        try:
            info = json.loads(text)
        except (ValueError, RecursionError):
            info = None
        if not isinstance(info, dict) or info.get("status") != "ok":
            raise VstError(f"{self.url}/health does not answer as a vst-edge server does "
                           f"({excerpt(text, 60)!r}); check the URL")
        return info

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        body = encode_image(rgb, self.fmt, self.quality)
        t0 = time.perf_counter()
        if self.delay:
            time.sleep(self.delay / 2)
        req = urllib.request.Request(self.url + "/stylize", data=body, method="POST",
                                     headers={"Content-Type": FORMATS[self.fmt][1]})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                data = resp.read(MAX_REPLY_BYTES + 1)
                headers = resp.headers
        except urllib.error.HTTPError as exc:
            raise _refusal(self.url, exc) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            raise EdgeUnavailable(f"edge server {self.url} stopped answering ({_reason(exc)})") from None
        if len(data) > MAX_REPLY_BYTES:
            raise self._malformed(f"over {MAX_REPLY_BYTES >> 20} MiB for one frame")
        try:
            out, _ = decode_image(data, max_pixels=rgb.shape[0] * rgb.shape[1])
        except VstError:
            raise self._malformed(f"a body that is not a PNG or JPEG of at most the frame's size: "
                                  f"{excerpt(data[:200], 60)!r}") from None
        if self.delay:
            time.sleep(self.delay / 2)
        if out.shape != rgb.shape:
            raise self._malformed(f"a {out.shape[1]}x{out.shape[0]} frame for a {rgb.shape[1]}x{rgb.shape[0]} one")
        self.last = Exchange(time.perf_counter() - t0, len(body), len(data),
                             self._header(headers, "X-Vst-Seconds", float, "nan", lambda v: not v < 0),
                             self._header(headers, "X-Vst-Batch", int, "1", lambda v: v >= 1))
        self.history.append(self.last)
        return out


    def _malformed(self, what: str) -> VstError:
        return VstError(f"edge server {self.url} sent a malformed reply ({what}): the server is at fault, not "
                        "the frame; is it a vst-edge server of this version?")

    def _header(self, headers, name: str, kind, default: str, valid):
        """A number from a reply header, or the malformed-reply error (they only feed the run's figures, but a
        server sending `X-Vst-Batch: abc` is not the one the client thinks it is)."""
        text = headers.get(name, default)
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not valid(value):
            raise self._malformed(f"header {name}: {excerpt(text, 40)!r}")
        return value


def _refusal(url: str, exc: urllib.error.HTTPError) -> VstError:
    """The error for a non-2xx answer to a frame, saying whose fault it is, with a short clean excerpt of the
    server's text (a hostile server could send megabytes of terminal escapes)."""
    try:
        detail = excerpt(exc.read(1024)) or excerpt(str(exc.reason))
    except (OSError, http.client.HTTPException):
        detail = excerpt(str(exc.reason))
    code = f"{exc.code}: {detail}" if detail else str(exc.code)
    if exc.code in (503, 504):
        return EdgeUnavailable(f"edge server {url} is overloaded ({code}); retry later or start more servers")
    if exc.code in (404, 405):
        return VstError(f"{url} answered POST /stylize with {code}: it is not a vst-edge server; check the URL")
    if exc.code >= 500:
        return VstError(f"edge server {url} failed on the frame (the server failed, {code}); its log says why")
    return VstError(f"edge server {url} refused the frame ({code}): the frame or the request is at fault")


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, socket.timeout):
        return "timed out"
    return excerpt(str(reason)) or type(reason).__name__


def edge_keyframe_stylizer(url: str, fmt: str = "png", quality: int = 90, timeout: float = 30.0,
                           delay: float = 0.0, check: bool = True) -> EdgeStylizer:
    """The key-frame callable for vst-stylize --edge URL: RGB uint8 HxWx3 -> RGB uint8 HxWx3, stylized by the
    server at `url`. With `check`, the server's /health is asked first so a wrong URL fails before any work.
    Raises EdgeUnavailable (a VstError) when the server cannot be reached or stops answering mid-run."""
    stylizer = EdgeStylizer(url, fmt, quality, timeout, delay)
    if check:
        stylizer.health()
    return stylizer
