"""Hostile and careless video inputs to vst-stylize: resumes after the inputs changed, rotated, short and
variable-frame-rate clips, models that give NaN, decompression bombs, ExportedProgram models, and failures that
must leave nothing behind."""
import os
import struct
import zlib
from fractions import Fraction

import av
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from test_hostile_inputs import one_line
from vst.common.cli import run_cli
from vst.common.images import resize_cover, sample_photos
from vst.models import create_model, save_model
from vst.stylize import cli
from vst.stylize.frames import LocalStylizer
from vst.stylize.video import output_frames, stylize_video, work_dir
from vst.video.codec import H264Writer, probe

W, H = 48, 32


def main():
    return cli.main


def stylize(*args) -> int:
    return run_cli(main(), [str(a) for a in args])


def onnx_model(path, nodes, inits=()):
    """An ONNX image model x (1x3xHxW, free size) -> y built from `nodes`."""
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h", "w"])], list(inits))
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def identity_onnx(path):
    return onnx_model(path, [helper.make_node("Identity", ["x"], ["y"])])


def nan_on_grey_onnx(path):
    """y = x + 0 * sqrt(|mean(x) - 0.5| - 0.1): the input itself, but NaN for frames of mean grey near 0.5."""
    c = lambda name, v: helper.make_tensor(name, TensorProto.FLOAT, [], [v])  # noqa: E731
    return onnx_model(path, [
        helper.make_node("ReduceMean", ["x"], ["m"], keepdims=0),
        helper.make_node("Sub", ["m", "half"], ["d"]), helper.make_node("Abs", ["d"], ["a"]),
        helper.make_node("Sub", ["a", "tenth"], ["s"]), helper.make_node("Sqrt", ["s"], ["r"]),
        helper.make_node("Mul", ["r", "zero"], ["z"]), helper.make_node("Add", ["x", "z"], ["y"])],
        [c("half", 0.5), c("tenth", 0.1), c("zero", 0.0)])


def write_clip(path, frames, fps=10, pts=None, time_base=None, rotation=None, faststart=False, codec="libx264"):
    """Frames (RGB uint8) as a video file with PyAV; `pts` in `time_base` units for a variable rate, `rotation`
    (counter-clockwise degrees) as the display matrix a phone writes."""
    opts = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=opts) as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height = frames[0].shape[1], frames[0].shape[0]
        s.pix_fmt = "yuv420p" if codec == "libx264" else "bgr24"
        if codec == "libx264":
            s.options = {"bf": "0"}
        if time_base is not None:
            s.codec_context.time_base = time_base
        if rotation is not None:
            s.set_display_rotation(rotation)
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], time_base
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def ramp(n, w=W, h=H, seed=0):
    """n frames panning over a photo (H.264 keeps them close, unlike noise); `seed` picks the photo."""
    name = ("coffee", "chelsea", "astronaut")[seed]
    photo = resize_cover(sample_photos((name,))[name], 2 * w, h)
    return [np.ascontiguousarray(photo[:, 2 * i:2 * i + w]) for i in range(n)]


def last_line(capsys, args):
    """Run vst-stylize; its exit code and stderr's last line as a terminal shows it (the progress bar, drawn
    with carriage returns, is cleared); no traceback anywhere."""
    rc = stylize(*args)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return rc, err.split("\r")[-1].strip()


def frame_times(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [float(f.pts * f.time_base) for f in c.decode(s)]


# --- 1. resume keyed by content, not path ------------------------------------------------------------------

def stop_after(monkeypatch, n):
    """Make the n-th frame written raise KeyboardInterrupt (a Ctrl-C in the middle of a run)."""
    calls = []
    orig = H264Writer.write

    def write(self, *a, **k):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return orig(self, *a, **k)
    monkeypatch.setattr(H264Writer, "write", write)


def test_resume_after_the_model_changed_at_the_same_path_starts_over(tmp_path, monkeypatch):
    src = write_clip(tmp_path / "in.mp4", ramp(8))
    model = tmp_path / "m.safetensors"
    torch.manual_seed(1)
    save_model(create_model("kunster", alpha=0.25, beta=0.25, variant="paper-text"), model)
    out = tmp_path / "o.mp4"
    old = LocalStylizer(str(model), (W, H))
    with monkeypatch.context() as m:
        stop_after(m, 6)
        with pytest.raises(KeyboardInterrupt):
            stylize_video(src, str(model), out, segment=4, progress=False)
    assert (work_dir(out) / "seg00000.mp4").is_file()
    torch.manual_seed(2)     # new weights, same path
    save_model(create_model("kunster", alpha=0.25, beta=0.25, variant="paper-text"), model)
    stats = stylize_video(src, str(model), out, segment=4, progress=False)
    assert stats["stylized_now"] == 8          # nothing kept from the old weights
    x, got = output_frames(src)[0], output_frames(out)[0].astype(float)
    to_new = np.abs(got - LocalStylizer(str(model), (W, H))(x)).mean()
    assert to_new < np.abs(got - old(x)).mean() / 2, to_new


def test_resume_after_the_input_changed_in_place_starts_over(tmp_path, monkeypatch):
    # raw video: the same size in bytes with other pixels, and the old modification time put back
    src = write_clip(tmp_path / "in.avi", ramp(8, seed=1), codec="rawvideo")
    model = identity_onnx(tmp_path / "id.onnx")
    out = tmp_path / "o.mp4"
    with monkeypatch.context() as m:
        stop_after(m, 6)
        with pytest.raises(KeyboardInterrupt):
            stylize_video(src, str(model), out, segment=4, progress=False)
    st = src.stat()
    size = st.st_size
    write_clip(src, ramp(8, seed=2), codec="rawvideo")
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert src.stat().st_size == size
    stats = stylize_video(src, str(model), out, segment=4, progress=False)
    assert stats["stylized_now"] == 8
    assert np.abs(output_frames(out)[0].astype(float) - ramp(1, seed=2)[0]).mean() < 8


# --- 2. rotation ---------------------------------------------------------------------------------------------

def test_rotated_input_comes_out_upright(tmp_path):
    f = np.zeros((H, W, 3), np.uint8)
    f[:8, :8] = 255                                   # a white corner at the coded top-left
    src = write_clip(tmp_path / "phone.mp4", [f] * 4, rotation=-90)   # shown turned 90 degrees clockwise
    info = probe(src)
    assert (info.width, info.height) == (H, W)
    out = tmp_path / "o.mp4"
    assert stylize(src, "-m", identity_onnx(tmp_path / "id.onnx"), "-o", out) == 0
    first = output_frames(out)[0]
    assert first.shape == (W, H, 3)                   # portrait, as a player shows the input
    assert first[:8, -8:].mean() > 200 and first[:8, :8].mean() < 60   # the corner is now top-right


# --- 3. a clip shorter than its header -------------------------------------------------------------------------

def short_clip(path, declared=60, decodable=23):
    write_clip(path, [np.full((H, W, 3), 4 * i, np.uint8) for i in range(declared)], faststart=True)
    with av.open(str(path)) as c:
        pos = [p.pos for p in c.demux(c.streams.video[0]) if p.size]
    with open(path, "r+b") as fh:                     # index in front, the data cut after `decodable` frames
        fh.truncate(pos[decodable])
    return path


@pytest.mark.parametrize("segment", [250, 10])
def test_a_clip_shorter_than_its_header_reports_what_was_decoded(tmp_path, segment):
    src = short_clip(tmp_path / "cut.mp4")
    assert probe(src).frames == 60
    out = tmp_path / "o.mp4"
    stats = stylize_video(src, str(identity_onnx(tmp_path / "id.onnx")), out, segment=segment, progress=False)
    assert probe(out).frames == 23 and stats["frames"] == 23 and stats["declared_frames"] == 60
    assert "60" in stats["warning"] and "23" in stats["warning"] and "damaged" in stats["warning"]
    assert not work_dir(out).exists()


# --- 4. variable frame rate ------------------------------------------------------------------------------------

def test_variable_frame_rate_keeps_the_input_timestamps(tmp_path):
    pts = [0, 40, 80, 300, 340, 900, 940, 980]        # ms: bursts and pauses
    src = write_clip(tmp_path / "vfr.mp4", ramp(len(pts)), fps=25, pts=pts, time_base=Fraction(1, 1000))
    src_times = frame_times(src)
    assert src_times == pytest.approx([p / 1000 for p in pts], abs=1e-3)
    out = tmp_path / "o.mp4"
    assert stylize(src, "-m", identity_onnx(tmp_path / "id.onnx"), "-o", out, "--segment", "3") == 0
    assert frame_times(out) == pytest.approx(src_times, abs=1e-3)


# --- 5. NaN from the model -------------------------------------------------------------------------------------

def test_a_model_giving_nan_writes_no_video_and_names_the_frame(tmp_path, capsys):
    frames = [np.full((H, W, 3), 30, np.uint8)] * 3 + [np.full((H, W, 3), 128, np.uint8)] * 3
    src = write_clip(tmp_path / "in.mp4", frames)
    out = tmp_path / "new" / "o.mp4"
    rc, err = last_line(capsys, [src, "-m", nan_on_grey_onnx(tmp_path / "nan.onnx"), "-o", out, "--segment", "2"])
    assert rc == 2 and len(err.splitlines()) == 1 and "frame 3" in err and "NaN" in err, err
    assert not (tmp_path / "new").exists()            # no output, no work folder, no folder made for them


# --- 6. decompression bombs ------------------------------------------------------------------------------------

def png_bomb(path, side=30000):
    """A 1-bit greyscale PNG of side x side zero pixels: small on disk, side^2 * 3 bytes decoded as RGB."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row = b"\0" * (1 + side // 8)
    z = zlib.compressobj(9)
    body = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def test_a_decompression_bomb_style_image_is_refused_from_its_header(tmp_path, capsys):
    from vst.common.images import load_image
    from vst.common.errors import VstError
    bomb = png_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(VstError, match="900 megapixels"):
        load_image(bomb)
    src = write_clip(tmp_path / "in.mp4", ramp(2))
    out = tmp_path / "o.mp4"
    one_line(capsys, main(), [src, "--style", bomb, "-o", out], "900 megapixels", "decompression bomb")
    assert not out.exists()


# --- 7. an ExportedProgram model -------------------------------------------------------------------------------

@pytest.mark.parametrize("dynamic", [False, True])
def test_an_exported_program_stylizes(tmp_path, dynamic):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.Sigmoid()).eval()
    pt2 = tmp_path / "net.pt2"
    dims = ({2: torch.export.Dim("h", min=16, max=256), 3: torch.export.Dim("w", min=16, max=256)},)
    torch.export.save(torch.export.export(net, (torch.rand(1, 3, H, W),), dynamic_shapes=dims if dynamic else None),
                      str(pt2))
    src = write_clip(tmp_path / "in.mp4", ramp(3))
    out = tmp_path / "o.mp4"
    size = ["--size", "32x32"] if dynamic else []    # a free-size export runs at any size, a fixed one at its own
    assert stylize(src, "-m", pt2, "-o", out, *size) == 0
    x = np.stack([resize_cover(f, 32, 32) if dynamic else f for f in output_frames(src)])
    with torch.no_grad():
        want = net(torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255)
    want = (want.permute(0, 2, 3, 1).numpy() * 255).round()
    assert np.abs(np.stack(output_frames(out)).astype(float) - want).mean() < 4


def test_an_exported_program_that_would_run_code_is_refused(tmp_path, capsys):
    from test_untrusted_archives import _evil_expression
    dims = ({2: torch.export.Dim("h", min=16, max=256)},)
    pt2 = tmp_path / "net.pt2"
    torch.export.save(torch.export.export(torch.nn.Conv2d(3, 3, 1).eval(), (torch.rand(1, 3, H, W),),
                                          dynamic_shapes=dims), str(pt2))
    marker = tmp_path / "code-ran"
    evil = _evil_expression(pt2, tmp_path / "evil.pt2", marker)
    src = write_clip(tmp_path / "in.mp4", ramp(2))
    one_line(capsys, main(), [src, "-m", evil, "-o", tmp_path / "o.mp4"], "shape expression", "refusing")
    assert not marker.exists() and not (tmp_path / "o.mp4").exists()


# --- 8. nothing left behind ------------------------------------------------------------------------------------

def test_a_failure_mid_run_leaves_no_temporary_file_or_folder(tmp_path, capsys, monkeypatch):
    src = write_clip(tmp_path / "in.mp4", ramp(6))
    out = tmp_path / "a" / "b" / "o.mp4"

    def broken(*a, **k):
        raise av.error.ValueError(22, "encoder refused the frame")
    monkeypatch.setattr(H264Writer, "write", broken)
    assert stylize(src, "-m", identity_onnx(tmp_path / "id.onnx"), "-o", out, "--segment", "2") == 70
    capsys.readouterr()
    assert not (tmp_path / "a").exists()


def test_leftovers_of_a_killed_run_are_swept(tmp_path):
    src = write_clip(tmp_path / "in.mp4", ramp(4))
    out = tmp_path / "o.mp4"
    (tmp_path / ".o.mp4.k1l3d.tmp.mp4").write_bytes(b"")           # a join killed with SIGKILL
    work_dir(out).mkdir()
    (work_dir(out) / ".seg00000.mp4.x9.tmp.mp4").write_bytes(b"")    # a segment killed mid-write
    stylize_video(src, str(identity_onnx(tmp_path / "id.onnx")), out, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["id.onnx", "in.mp4", "o.mp4"]


@pytest.mark.parametrize("make,needle", [(lambda p: p.mkdir(), "is a folder"), (lambda p: None, "does not exist")])
def test_an_input_that_is_not_a_file_is_named_for_what_it_is(tmp_path, capsys, make, needle):
    make(tmp_path / "clip.mp4")
    one_line(capsys, main(), [tmp_path / "clip.mp4", "-m", identity_onnx(tmp_path / "id.onnx"), "-o",
                              tmp_path / "o.mp4"], needle)


def test_the_command_says_when_a_clip_was_shorter_than_its_header(tmp_path, capsys):
    src = short_clip(tmp_path / "cut.mp4")
    assert stylize(src, "-m", identity_onnx(tmp_path / "id.onnx"), "-o", tmp_path / "o.mp4") == 0
    err = capsys.readouterr().err
    assert "warning" in err and "60" in err and "23" in err
