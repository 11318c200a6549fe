"""Device registry, connected-device parsing and driver command construction, from recorded tool output.

No phone is faked: resolving against the real PATH (without adb/xcrun here) must fail cleanly, and the drivers'
commands and parsers are checked against the exact text/JSON the tools print.
"""
import json
from pathlib import Path, PurePosixPath

import pytest
from toolchains import missing

from vst.bench import drivers_android as A
from vst.bench import drivers_ios as I
from vst.bench.cli import main
from vst.bench.devices import (Device, _pick, load_registry, matches, parse_adb_devices, parse_devicectl_devices,
                               resolve_device)
from vst.bench.plan import make_plan, schema_errors
from vst.common.cli import run_cli
from vst.common.errors import VstError

ADB_DEVICES_L = """List of devices attached
28201FDH2001E5         device usb:1-1 product:panther model:Pixel_7 device:panther transport_id:3
emulator-5554          device product:sdk_gphone64_x86_64 model:sdk_gphone64_x86_64 device:emu64xa transport_id:1
R5CT1234ABC            unauthorized usb:1-2 transport_id:4

"""

DEVICECTL = {
    "info": {"arguments": ["devicectl", "list", "devices", "--json-output", "/tmp/d.json"],
             "commandType": "devicectl.list.devices", "environment": {"TERM": "xterm-256color"},
             "jsonVersion": 2, "outcome": "success", "version": "355.28"},
    "result": {"devices": [
        {"capabilities": [{"featureIdentifier": "com.apple.coredevice.feature.launchapplication",
                           "name": "Launch Application"}],
         "connectionProperties": {"authenticationType": "manualPairing", "isMobileDeviceOnly": False,
                                  "lastConnectionDate": "2024-05-02T09:12:44.123Z", "pairingState": "paired",
                                  "potentialHostnames": ["00008030-001A2C3E0C38802E.coredevice.local"],
                                  "transportType": "wired", "tunnelState": "disconnected",
                                  "tunnelTransportProtocol": "tcp"},
         "deviceProperties": {"bootedFromSnapshot": True, "bootedSnapshotName": "com.apple.os.update-AB12",
                              "ddiServicesAvailable": True, "developerModeStatus": "enabled",
                              "hasInternalOSBuild": False, "name": "Lab iPhone 11 Pro", "osBuildUpdate": "21E236",
                              "osVersionNumber": "17.4.1", "rootFileSystemIsWritable": False},
         "hardwareProperties": {"cpuType": {"name": "arm64e", "subType": 2, "type": 16777228},
                                "deviceType": "iPhone", "ecid": 7383209283209, "hardwareModel": "D421AP",
                                "marketingName": "iPhone 11 Pro", "platform": "iOS", "productType": "iPhone12,3",
                                "reality": "physical", "serialNumber": "F2LZK0ABCDEF",
                                "udid": "00008030-001A2C3E0C38802E"},
         "identifier": "3C1E9F1A-5D2B-4C1F-9E57-8A1B2C3D4E5F", "visibilityClass": "default"},
        {"capabilities": [],
         "connectionProperties": {"pairingState": "paired", "tunnelState": "unavailable",
                                  "potentialHostnames": []},
         "deviceProperties": {"name": "Old 6s", "osVersionNumber": "15.8"},
         "hardwareProperties": {"marketingName": "iPhone 6s", "productType": "iPhone8,1", "platform": "iOS",
                                "udid": "0123456789abcdef0123456789abcdef01234567"},
         "identifier": "9D8C7B6A-0000-4000-8000-123456789ABC", "visibilityClass": "default"}]}}


@pytest.fixture
def no_phone_tools(tmp_path, monkeypatch):
    """PATH without adb or xcrun, whatever the machine has."""
    monkeypatch.setenv("PATH", str(tmp_path))


def test_registry_is_data_and_extendable(tmp_path, monkeypatch):
    reg = load_registry()
    assert reg["iphone11pro"]["match"] == {"productType": "iPhone12,3"}
    assert reg["iphone6s"]["platform"] == "ios" and reg["host"]["platform"] == "host"
    extra = tmp_path / "lab.json"
    extra.write_text(json.dumps({"devices": [{"name": "labphone", "platform": "android", "chip": "X",
                                              "match": {"model": "Lab 1"}}]}))
    monkeypatch.setenv("VST_DEVICES", str(extra))
    assert "labphone" in load_registry() and "pixel7" in load_registry()
    extra.write_text("{}")
    with pytest.raises(VstError, match="not a device registry: the top level: .devices. is a required property"):
        load_registry()


def test_adb_devices_parsing_and_matching():
    rows = parse_adb_devices(ADB_DEVICES_L)
    assert [r["serial"] for r in rows] == ["28201FDH2001E5", "emulator-5554", "R5CT1234ABC"]
    assert rows[0]["model"] == "Pixel_7" and rows[2]["state"] == "unauthorized"
    reg = load_registry()
    assert matches(reg["pixel7"]["match"], rows[0])       # "Pixel 7" in the registry, Pixel_7 from adb
    assert not matches(reg["pixel8"]["match"], rows[0])
    dev = _pick("pixel7", reg["pixel7"], rows, "android")
    assert (dev.name, dev.serial, dev.chip) == ("pixel7", "28201FDH2001E5", "Google Tensor G2")
    assert _pick("emulator-5554", None, rows, "android").serial == "emulator-5554"
    with pytest.raises(VstError, match="unauthorized"):
        _pick("R5CT1234ABC", None, rows, "android")
    with pytest.raises(VstError, match=r"no connected android device matches galaxys23.*28201FDH2001E5 \(Pixel_7"):
        _pick("galaxys23", reg["galaxys23"], rows, "android")


def test_devicectl_parsing_and_matching():
    rows = parse_devicectl_devices(DEVICECTL)
    assert rows[0]["productType"] == "iPhone12,3" and rows[0]["state"] == "connected"
    assert rows[0]["osVersion"] == "17.4.1" and rows[1]["state"] == "unavailable"
    reg = load_registry()
    dev = _pick("iphone11pro", reg["iphone11pro"], rows, "ios")
    assert dev.serial == "3C1E9F1A-5D2B-4C1F-9E57-8A1B2C3D4E5F"
    with pytest.raises(VstError, match="attached but unavailable"):
        _pick("iphone6s", reg["iphone6s"], rows, "ios")
    with pytest.raises(VstError, match="VST_DEVICES"):
        _pick("iphone15pro", reg["iphone15pro"], rows, "ios")


def test_absent_devices_fail_cleanly(no_phone_tools, tmp_path, capsys):
    with pytest.raises(VstError, match="adb is not on PATH"):
        resolve_device("pixel7")
    with pytest.raises(VstError, match="xcrun is not on PATH"):
        resolve_device("iphone11pro")
    with pytest.raises(VstError, match="unknown device 'R58N12'.*neither adb nor xcrun"):
        resolve_device("R58N12")
    assert resolve_device("host").platform == "host"
    assert run_cli(main, ["--device", "iphone6s", "--model", "kunster-t2-05", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "xcrun" in err


def _plan(fmt="tflite", delegate="gpu", runtime="litert", device="pixel7"):
    art = {"path": f"/models/k.{fmt}", "format": fmt, "sha256": "c" * 64, "zoo_name": None}
    src = {"kind": "video", "path": "/cache/clip.mp4", "sha256": "d" * 64, "frames": 525, "fps": 25.0}
    return make_plan(device=device, runtime=runtime, artifact=art, width=480, height=320, layout="NHWC",
                     frame_source=src, delegate=delegate)


def test_android_commands():
    s = "28201FDH2001E5"
    files = PurePosixPath("/sdcard/Android/data/org.vst.bench/files")
    assert A.install_command(s, Path("/x/app-release.apk")) == ["adb", "-s", s, "install", "-r", "-g",
                                                                "/x/app-release.apk"]
    assert A.push_command(s, Path("/m/k.tflite"), files / "models/k.tflite") == [
        "adb", "-s", s, "push", "/m/k.tflite", "/sdcard/Android/data/org.vst.bench/files/models/k.tflite"]
    assert A.start_command(s, "plans/p.json", "results/p.json") == [
        "adb", "-s", s, "shell", "am", "start", "-W", "-n", "org.vst.bench/.MainActivity", "--es", "plan",
        "plans/p.json", "--es", "result", "results/p.json"]
    assert A.force_stop_command(s) == ["adb", "-s", s, "shell", "am", "force-stop", "org.vst.bench"]
    assert A.thermal_command(s) == ["adb", "-s", s, "shell", "dumpsys", "thermalservice"]
    assert A.battery_command(s) == ["adb", "-s", s, "shell", "dumpsys", "battery"]
    assert A.pull_command(s, files / "results/p.json", Path("/tmp/r.json"))[-2:] == [
        "/sdcard/Android/data/org.vst.bench/files/results/p.json", "/tmp/r.json"]
    assert A.build_command()[-1] == "assembleRelease"


def test_device_plans_stay_valid_with_phone_paths():
    plan = _plan()
    drv = A.AndroidDriver.__new__(A.AndroidDriver)  # command helpers only; no adb involved
    rel = drv.remote_paths(plan, Path("/models/k.tflite"), Path("/cache/clip.mp4"))
    assert rel == {"artifact": "models/cccccccccccccccc.tflite", "clip": "clips/clip.mp4",
                   "plan": f"plans/{plan['cell_id']}.json", "result": f"results/{plan['cell_id']}.json"}
    dp = drv.device_plan(plan, rel)
    assert schema_errors("plan", dp) == [] and dp["cell_id"] == plan["cell_id"]
    assert dp["artifact"]["path"] == "models/cccccccccccccccc.tflite" and plan["artifact"]["path"] == "/models/k.tflite"
    ip = _plan("mlpackage", "cpuAndNeuralEngine", "coreml", "iphone11pro")
    irel = I.IOSDriver.remote_paths(ip, Path("/models/k.mlpackage"), Path("/cache/clip.mp4"))
    idp = I.IOSDriver.device_plan(ip, irel)
    assert idp["artifact"]["path"] == "models/cccccccccccccccc.mlpackage" and schema_errors("plan", idp) == []


def test_ios_commands():
    d = "3C1E9F1A-5D2B-4C1F-9E57-8A1B2C3D4E5F"
    b = I.build_command(d, team="ABCDE12345")
    assert b[:3] == ["xcodebuild", "-project", str(I.PROJECT)]
    assert b[b.index("-destination") + 1] == f"id={d}" and b[-2:] == ["DEVELOPMENT_TEAM=ABCDE12345", "build"]
    assert I.install_command(d, Path("/b/VstBench.app")) == ["xcrun", "devicectl", "device", "install", "app",
                                                              "--device", d, "/b/VstBench.app"]
    assert I.copy_to_command(d, Path("/p.json"), "Documents/plans/p.json") == [
        "xcrun", "devicectl", "device", "copy", "to", "--device", d, "--domain-type", "appDataContainer",
        "--domain-identifier", "org.vst.bench", "--source", "/p.json", "--destination", "Documents/plans/p.json"]
    assert I.copy_from_command(d, "Documents/results/p.json", Path("/r.json"))[4] == "from"
    assert I.launch_command(d, "plans/p.json", "results/p.json") == [
        "xcrun", "devicectl", "device", "process", "launch", "--device", d, "--terminate-existing",
        "org.vst.bench", "--plan", "plans/p.json", "--result", "results/p.json"]


def test_drivers_need_their_tools(no_phone_tools):
    with pytest.raises(VstError, match="adb is not on PATH"):
        A.AndroidDriver(Device("pixel7", "android", serial="x"))
    with pytest.raises(VstError, match="xcrun is not on PATH"):
        I.IOSDriver(Device("iphone11pro", "ios", serial="x"))


def test_dumpsys_parsing():
    from test_bench_host import DUMPSYS_BATTERY, DUMPSYS_THERMAL  # noqa: F401  (same recorded text)
    b = A.parse_battery(DUMPSYS_BATTERY)
    assert b == {"source": "dumpsys battery", "level_pct": 87.0, "celsius": 31.2, "charging": True}
    t = A.parse_thermal(DUMPSYS_THERMAL)
    assert t == {"source": "dumpsys thermalservice", "state": "light", "celsius": 41.25}
    assert A.parse_battery("Can't find service: battery") is None
    assert A.parse_thermal("") is None


def test_ios_plans_from_a_core_ml_package(tmp_path):
    """Plans for an iPhone: input read from the .mlpackage spec, one cell per compute unit, schema-valid."""
    import coremltools as ct
    import torch
    from vst.bench.artifacts import resolve_artifact
    from vst.bench.sweep import Protocol, plan_cells
    from vst.video.codec import make_clip
    traced = torch.jit.trace(torch.nn.Conv2d(3, 3, 3, padding=1).eval(), torch.rand(1, 3, 48, 64))
    ml = ct.convert(traced, inputs=[ct.ImageType(name="x", shape=(1, 3, 48, 64))], convert_to="mlprogram",
                    minimum_deployment_target=ct.target.iOS16)
    ml.save(str(tmp_path / "tiny.mlpackage"))
    clip = make_clip(tmp_path / "clip.mp4", (64, 48), seconds=0.08, fps=25)
    phone = Device("iphone11pro", "ios", "Apple A13 Bionic", serial="3C1E9F1A")
    art = resolve_artifact(str(tmp_path / "tiny.mlpackage"))
    cells = plan_cells(phone, [art], [(480, 320)], clip, Protocol(), ["all", "cpuAndNeuralEngine"])
    assert [p["delegate"] for p, _ in cells] == ["all", "cpuAndNeuralEngine"]
    for p, _ in cells:
        assert schema_errors("plan", p) == []
        assert p["runtime"] == "coreml" and (p["input"]["width"], p["input"]["height"]) == (64, 48)
        assert p["input"]["layout"] == "NHWC"  # an image input: Core ML takes the pixel buffer
    with pytest.raises(VstError, match="iphone11pro runs coreml"):
        plan_cells(phone, [resolve_artifact("kunster-t2-05")], [(64, 48)], clip, Protocol())
    with pytest.raises(VstError, match="delegates"):
        plan_cells(phone, [art], [(64, 48)], clip, Protocol(), ["nnapi"])


def test_real_adb_without_the_phone_says_so_in_one_line(tmp_path):
    """The real adb (scripts/setup.sh installs it), asked for a phone that is not attached: one line, exit 2."""
    import os
    import shutil
    import socket
    import subprocess
    import sys

    adb = shutil.which("adb")
    if not adb:
        missing("adb is not on PATH")
    # a model no attached phone can be, so the answer does not depend on what is plugged in
    reg = tmp_path / "devices.json"
    reg.write_text(json.dumps({"devices": [{"name": "nophone", "platform": "android", "chip": None,
                                            "match": {"model": "vst no such phone"}}]}))
    with socket.socket() as s:  # a private adb server, stopped afterwards, not the user's
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = dict(os.environ, ANDROID_ADB_SERVER_PORT=port)
    try:
        proc = subprocess.run([sys.executable, "-m", "vst.bench.cli", "--device", "nophone", "--devices-file",
                               str(reg), "--model", "kunster-t2-05", "--out", str(tmp_path / "o")],
                              capture_output=True, text=True, env=env, timeout=120)
    finally:
        subprocess.run([adb, "-P", port, "kill-server"], capture_output=True, env=env, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "no connected android device matches nophone" in proc.stderr
    assert not (tmp_path / "o").exists()
