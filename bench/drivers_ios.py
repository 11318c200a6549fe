"""iOS driver: runs plans in ios_harness (Core ML) with xcodebuild and `xcrun devicectl` (Xcode 15+; tidevice
and ios-deploy do not work with iOS 17's tunnels).

Per cell: copy model, clip and plan into the app's Documents, launch the app with the plan and result paths
as arguments (terminating a previous instance), poll for the result by copying it back, then validate it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from vst.bench.devices import Device, read_tool_json, run_tool
from vst.common.errors import VstError
from vst.runtimes.table import DELEGATES

BUNDLE_ID = "org.vst.bench"
HARNESS = Path(__file__).resolve().parents[1] / "ios_harness"
PROJECT = HARNESS / "VstBench.xcodeproj"
DERIVED = HARNESS / "build"
APP = DERIVED / "Build" / "Products" / "Release-iphoneos" / "VstBench.app"
COMPUTE_UNITS = DELEGATES[("ios", "coreml")]


def generate_project_command() -> list[str]:
    return ["xcodegen", "generate", "--spec", str(HARNESS / "project.yml"), "--project", str(HARNESS)]


def build_command(device_id: str, team: str | None = None) -> list[str]:
    cmd = ["xcodebuild", "-project", str(PROJECT), "-scheme", "VstBench", "-configuration", "Release",
           "-destination", f"id={device_id}", "-derivedDataPath", str(DERIVED), "-allowProvisioningUpdates"]
    if team:
        cmd.append(f"DEVELOPMENT_TEAM={team}")
    return cmd + ["build"]


def install_command(device_id: str, app: Path = APP) -> list[str]:
    return ["xcrun", "devicectl", "device", "install", "app", "--device", device_id, str(app)]


def copy_to_command(device_id: str, local: Path, remote: str) -> list[str]:
    return ["xcrun", "devicectl", "device", "copy", "to", "--device", device_id, "--domain-type",
            "appDataContainer", "--domain-identifier", BUNDLE_ID, "--source", str(local), "--destination", remote]


def copy_from_command(device_id: str, remote: str, local: Path) -> list[str]:
    return ["xcrun", "devicectl", "device", "copy", "from", "--device", device_id, "--domain-type",
            "appDataContainer", "--domain-identifier", BUNDLE_ID, "--source", remote, "--destination", str(local)]


def launch_command(device_id: str, plan_rel: str, result_rel: str) -> list[str]:
    # arguments after the bundle id reach the app's CommandLine.arguments
    return ["xcrun", "devicectl", "device", "process", "launch", "--device", device_id, "--terminate-existing",
            BUNDLE_ID, "--plan", plan_rel, "--result", result_rel]


class IOSDriver:
    platform = "ios"

    def __init__(self, device: Device, team: str | None = None, timeout_s: float = 900):
        team = team or os.environ.get("VST_IOS_TEAM")  # Apple signing team id for xcodebuild
        if not shutil.which("xcrun"):
            raise VstError("xcrun is not on PATH; iPhones are benchmarked from a Mac with Xcode 15 or newer")
        self.device, self.id, self.team, self.timeout_s = device, device.serial, team, timeout_s
        self._copied: set[str] = set()

    @staticmethod
    def _run(cmd: list[str], timeout: float = 600) -> str:
        return run_tool(cmd, timeout)

    def prepare(self) -> None:
        if not PROJECT.exists():
            if not shutil.which("xcodegen"):
                raise VstError(f"{PROJECT} is missing and xcodegen is not installed; `brew install xcodegen`, "
                               f"then {' '.join(generate_project_command())}")
            self._run(generate_project_command())
        self._run(build_command(self.id, self.team), timeout=1800)
        self._run(install_command(self.id))

    @staticmethod
    def remote_paths(plan: dict, artifact_path: Path, clip: Path) -> dict[str, str]:
        return {"artifact": f"Documents/models/{plan['artifact']['sha256'][:16]}{artifact_path.suffix}",
                "clip": f"Documents/clips/{clip.name}", "plan": f"Documents/plans/{plan['cell_id']}.json",
                "result": f"Documents/results/{plan['cell_id']}.json"}

    @staticmethod
    def device_plan(plan: dict, rel: dict[str, str]) -> dict:
        """Paths as the app resolves them: relative to its data container's Documents folder."""
        p = json.loads(json.dumps(plan))
        p["artifact"]["path"] = rel["artifact"].removeprefix("Documents/")
        p["frame_source"]["path"] = rel["clip"].removeprefix("Documents/")
        return p

    def run_cell(self, plan: dict, artifact_path: Path, clip: Path, workdir: Path) -> dict:
        allowed = COMPUTE_UNITS if plan["runtime"] == "coreml" else DELEGATES[("ios", plan["runtime"])]
        if plan["delegate"] not in allowed:
            raise VstError(f"{plan['runtime']} on iOS takes {', '.join(allowed)}, not {plan['delegate']}")
        rel = self.remote_paths(plan, artifact_path, clip)
        for key, local in (("artifact", artifact_path), ("clip", clip)):
            if rel[key] not in self._copied:
                self._run(copy_to_command(self.id, local, rel[key]), timeout=900)
                self._copied.add(rel[key])
        plan_file = workdir / f"{plan['cell_id']}.plan.json"
        plan_file.write_text(json.dumps(self.device_plan(plan, rel), indent=1))
        self._run(copy_to_command(self.id, plan_file, rel["plan"]))
        self._run(launch_command(self.id, rel["plan"].removeprefix("Documents/"),
                                 rel["result"].removeprefix("Documents/")))
        local = workdir / f"{plan['cell_id']}.device.json"
        deadline = time.monotonic() + self.timeout_s
        while True:
            with tempfile.TemporaryDirectory() as tmp:
                got = Path(tmp) / "result.json"
                proc = subprocess.run(copy_from_command(self.id, rel["result"], got), capture_output=True,
                                      text=True, timeout=120)
                if proc.returncode == 0 and got.exists() and got.stat().st_size:
                    shutil.copy(got, local)
                    break
            if time.monotonic() > deadline:
                raise VstError(f"{self.device.name}: no result after {self.timeout_s:.0f} s; open the VstBench "
                               "app's console in Xcode (Devices and Simulators) for the reason")
            time.sleep(3)
        result = read_tool_json(local, "the iOS harness")
        result["plan"] = plan  # host paths back; the cell id does not depend on them
        return result
