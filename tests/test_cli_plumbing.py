"""What every command shares: third-party chatter filtered at one place (kept with -v), user errors as one line
with exit 2, internal errors named as vst's bug with exit 70."""
import os
import sys

import pytest

from vst.common.cli import run_cli
from vst.common.errors import InternalError, VstError
from vst.common.quiet import quiet_stderr

CHATTER = [b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
           b"I0000 00:00:1795258316.483274   25095 port.cc:153] oneDNN custom operations are on.\n",
           b"E0000 00:00:1795257418.445713    4012 cuda_platform.cc:52] failed call to cuInit: CUDA error\n",
           b"W1121 10:36:54.113000 4012 torch/onnx/_internal/exporter/_registration.py:107] torchvision is not installed\n",
           b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
           b"fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32\n"]


def _emit():
    for line in CHATTER:
        os.write(2, line)
    os.write(2, b"\rconvert 0/8 [00:00]WARNING: All log messages before absl::InitializeLog() is called\n")
    os.write(2, b"progress 3/8\n")
    os.write(2, b"result line\n")


def test_native_chatter_is_dropped_and_the_rest_kept(capfd):
    with quiet_stderr():
        _emit()
    err = capfd.readouterr().err
    assert err.rstrip("\n").split("\n") == ["\rconvert 0/8 [00:00]progress 3/8", "result line"], err


def test_verbose_keeps_everything(capfd):
    with quiet_stderr(verbose=True):
        _emit()
    err = capfd.readouterr().err
    assert err.count("\n") == len(CHATTER) + 3


def test_user_and_internal_errors_exit_differently(capsys, monkeypatch):
    def user(argv):
        raise VstError("size 7x7 is not a multiple of 4; use 8x8")

    def bug(argv):
        raise InternalError("output shapes differ")
    assert run_cli(user, []) == 2
    assert capsys.readouterr().err.strip().endswith("error: size 7x7 is not a multiple of 4; use 8x8")
    assert run_cli(bug, []) == 70
    err = capsys.readouterr().err.strip()
    assert "internal error" in err and "bug in vst" in err and len(err.splitlines()) == 1


def test_verbose_flag_is_taken_by_every_command(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "argv", ["vst-x", "-v", "a", "--verbose"])
    assert run_cli(lambda argv: seen.append(list(argv)) or 0) == 0
    assert seen == [["a"]]


def test_a_reader_that_goes_away_gets_no_traceback():
    # `vst-predict --loo | head -1`: the pipe closes while the command still prints
    import subprocess
    code = ("import sys; from vst.common.cli import run_cli\n"
            "def main(args):\n"
            "    for i in range(100000): print('row', i)\n"
            "sys.exit(run_cli(main))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 1
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_progress_bars_redraw_rarely_off_a_terminal(monkeypatch):
    """A log file or CI console gets a progress line every LOG_INTERVAL_S, not several redraws a second."""
    import io
    from vst.common import progress
    log = io.StringIO()
    monkeypatch.setattr(progress.sys, "stderr", log)                      # not a terminal
    with progress.bar(total=300, desc="rounds") as b:
        assert b.mininterval == progress.LOG_INTERVAL_S and not b.disable
        assert b.maxinterval == progress.LOG_INTERVAL_S    # or tqdm's monitor thread redraws every 10 s
        for i in range(300):                   # a fast loop that also names its state, as --compare does
            b.update(1)
            b.set_postfix_str(f"{i}/300 s")
    assert log.getvalue().count("rounds") <= 3, log.getvalue()            # first draw, maybe one timed, the close
    # a nested bar would move the cursor up inside the outer bar's lines: off a terminal there is none
    log.truncate(0)
    with progress.bar(total=3, desc="outer", position=0) as outer, \
            progress.bar(total=3, desc="inner", position=1) as inner:
        assert inner.disable and not outer.disable
        inner.update(3)
        outer.update(3)
    assert "\x1b[A" not in log.getvalue() and "inner" not in log.getvalue() and "outer" in log.getvalue()
    with progress.bar(total=3, progress=False) as b:
        assert b.disable

    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.setattr(progress.sys, "stderr", Tty())
    with progress.bar(total=3) as b:
        assert b.mininterval < 1
    with progress.bar(total=3, position=1, leave=False) as b:    # on a terminal, nested bars draw as usual
        assert not b.disable


def test_command_lines_are_spelled_by_the_parser_and_parse_back():
    import argparse
    from vst.common.cli import command_line
    from vst.common.errors import InternalError
    p = argparse.ArgumentParser(prog="vst-x")
    p.add_argument("model")
    p.add_argument("-o", "--out")
    p.add_argument("--frames", dest="frames_dir")
    p.add_argument("--dynamic", action="store_true")
    p.add_argument("--model", dest="models", nargs="+")
    assert command_line(p, "a b.pt", out="o.tflite", frames_dir="f", dynamic=True, models=["x", "y"]) == \
        "vst-x 'a b.pt' --out o.tflite --frames f --dynamic --model x y"
    assert command_line(p, "m", dynamic=False, out=None) == "vst-x m"
    with pytest.raises(InternalError, match="no option"):
        command_line(p, "m", output="o")               # a misspelled option is vst's bug, found at once
    with pytest.raises(InternalError, match="does not take"):
        command_line(p, out="o")                       # a line its parser refuses (no model)


def test_sigterm_ends_a_command_as_ctrl_c_does(tmp_path):
    """`kill` runs the same cleanup as Ctrl-C (atomic outputs removed, the interrupted line): Python's default
    for SIGTERM is to die on the spot."""
    import signal
    import subprocess
    import time
    script = tmp_path / "slow.py"
    script.write_text(
        "import sys, time\n"
        "from vst.common.cli import run_cli\n"
        "from vst.common.fsutil import atomic_path\n"
        "def main(argv):\n"
        f"    with atomic_path({str(tmp_path / 'out.bin')!r}) as tmp:\n"
        "        tmp.write_bytes(b'half')\n"
        "        print('started', flush=True)\n"
        "        time.sleep(60)\n"
        "sys.exit(run_cli(main))\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in err, err
    assert os.listdir(tmp_path) == ["slow.py"], os.listdir(tmp_path)   # no temporary file left


def test_convert_summary_names_the_int8_method_and_says_what_was_not_counted_or_identical():
    from generators import conversion_report
    from vst.convert.cli import summary
    rep = conversion_report()
    rep.update(target="tflite", quant="int8", quantization={"dynamic": {}}, transposes={"before": None, "after": 0})
    rep["fidelity"].update(psnr_db=None, measured=True, reference="pytorch", passed=True)
    text = summary(rep)
    assert "  tflite int8-dynamic 48x32 " in text and "transposes not counted -> 0" in text
    assert "PSNR identical (bit-exact)," in text and "None" not in text
    rep["delegates"] = {"coreml_ane": {"verdict": "none", "source": "s", "fallbacks": [
        {"op": op, "node": op, "reason": "the ANE computes in fp16 only", "source": "s"} for op in ("conv", "add")]}}
    assert "  coreml_ane: none (the ANE computes in fp16 only)" in summary(rep)
    # a Core ML program is NCHW inside: its "nhwc" I/O is image I/O, said so on the console and in the report
    from vst.reports.context import conversion_card
    rep.update(target="coreml", quant="fp32", io_layout="nhwc", quantization=None)
    assert " I/O images (pixel buffers), NCHW program;" in summary(rep)
    assert conversion_card(__import__("pathlib").Path("m.mlpackage.report.json"), rep)["io_layout"] == \
        "images (pixel buffers), NCHW program"
    rep.update(io_layout="nchw")
    assert " I/O NCHW tensors;" in summary(rep)
