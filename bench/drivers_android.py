"""Android driver: runs plans in android_harness (LiteRT with XNNPACK, GPU or NNAPI) over adb.

Per cell: push model, clip and plan into the app's external files folder, force-stop, cool down, start the
activity, wait for the result file, pull it, force-stop. Thermal status and battery come from dumpsys at the
cell's start and end. Every adb command is built by a function here so tests can check them without a phone.
"""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path, PurePosixPath

from vst.bench.devices import Device, read_tool_json, run_tool
from vst.common.errors import VstError
from vst.runtimes.table import DELEGATES

PACKAGE = "org.vst.bench"
ACTIVITY = f"{PACKAGE}/.MainActivity"
FILES = PurePosixPath(f"/sdcard/Android/data/{PACKAGE}/files")
HARNESS = Path(__file__).resolve().parents[1] / "android_harness"
APK = HARNESS / "app" / "build" / "outputs" / "apk" / "release" / "app-release.apk"
ANDROID_DELEGATES = DELEGATES[("android", "litert")]
# PowerManager THERMAL_STATUS_* names, as dumpsys thermalservice prints the number
THERMAL_STATUS = {0: "none", 1: "light", 2: "moderate", 3: "severe", 4: "critical", 5: "emergency", 6: "shutdown"}


def adb(serial: str, *args: str, adb_path: str = "adb") -> list[str]:
    return [adb_path, "-s", serial, *args]


def build_command() -> list[str]:
    # a generated wrapper (`gradle wrapper` once) if present, else the system Gradle 8.7+
    wrapper = HARNESS / "gradlew"
    return [str(wrapper) if wrapper.exists() else "gradle", "-p", str(HARNESS), "assembleRelease"]


def install_command(serial: str, apk: Path = APK) -> list[str]:
    return adb(serial, "install", "-r", "-g", str(apk))


def push_command(serial: str, local: Path, remote: PurePosixPath) -> list[str]:
    return adb(serial, "push", str(local), str(remote))


def pull_command(serial: str, remote: PurePosixPath, local: Path) -> list[str]:
    return adb(serial, "pull", str(remote), str(local))


def start_command(serial: str, plan_rel: str, result_rel: str) -> list[str]:
    # paths are relative to the app's external files folder, which the app reads without storage permission
    return adb(serial, "shell", "am", "start", "-W", "-n", ACTIVITY, "--es", "plan", plan_rel, "--es", "result",
               result_rel)


def force_stop_command(serial: str) -> list[str]:
    return adb(serial, "shell", "am", "force-stop", PACKAGE)


def exists_command(serial: str, remote: PurePosixPath) -> list[str]:
    return adb(serial, "shell", f"test -s {remote} && echo yes || echo no")


def thermal_command(serial: str) -> list[str]:
    return adb(serial, "shell", "dumpsys", "thermalservice")


def battery_command(serial: str) -> list[str]:
    return adb(serial, "shell", "dumpsys", "battery")


def parse_thermal(text: str) -> dict | None:
    """`dumpsys thermalservice` -> thermal status name and the hottest skin/CPU temperature it lists."""
    m = re.search(r"Thermal Status:\s*(\d+)", text)
    if not m:
        return None
    temps = [float(v) for v in re.findall(r"Temperature\{mValue=([-\d.]+), mType=\d+, mName=[^,]*", text)]
    return {"source": "dumpsys thermalservice", "state": THERMAL_STATUS.get(int(m.group(1)), m.group(1)),
            "celsius": max(temps) if temps else None}


def parse_battery(text: str) -> dict | None:
    """`dumpsys battery` -> level %, temperature (reported in tenths of a degree) and whether it charges."""
    fields = dict(re.findall(r"^\s*([A-Za-z ]+):\s*(.+?)\s*$", text, flags=re.M))
    if "level" not in fields:
        return None
    level, scale = float(fields["level"]), float(fields.get("scale", 100) or 100)
    powered = [fields.get(k, "false") == "true" for k in ("AC powered", "USB powered", "Wireless powered")]
    return {"source": "dumpsys battery", "level_pct": 100.0 * level / scale,
            "celsius": float(fields["temperature"]) / 10 if "temperature" in fields else None,
            "charging": any(powered)}


class AndroidDriver:
    platform = "android"

    def __init__(self, device: Device, adb_path: str | None = None, timeout_s: float = 900):
        self.device, self.serial = device, device.serial
        self.adb_path = adb_path or shutil.which("adb")
        if not self.adb_path:
            raise VstError("adb is not on PATH; install Android platform-tools to benchmark Android phones")
        self.timeout_s = timeout_s
        self._pushed: set[str] = set()

    def _run(self, cmd: list[str], timeout: float = 300) -> str:
        return run_tool([self.adb_path, *cmd[1:]] if cmd[0] == "adb" else cmd, timeout)

    def prepare(self) -> None:
        if not APK.exists():
            raise VstError(f"{APK} is missing; build the harness first: {' '.join(build_command())} "
                           "(needs the Android SDK and JDK 17)")
        self._run(install_command(self.serial))

    def remote_paths(self, plan: dict, artifact_path: Path, clip: Path) -> dict[str, str]:
        ext = artifact_path.suffix
        return {"artifact": f"models/{plan['artifact']['sha256'][:16]}{ext}", "clip": f"clips/{clip.name}",
                "plan": f"plans/{plan['cell_id']}.json", "result": f"results/{plan['cell_id']}.json"}

    def device_plan(self, plan: dict, rel: dict[str, str]) -> dict:
        """The plan as the app sees it: file paths relative to its files folder."""
        p = json.loads(json.dumps(plan))
        p["artifact"]["path"], p["frame_source"]["path"] = rel["artifact"], rel["clip"]
        return p

    def run_cell(self, plan: dict, artifact_path: Path, clip: Path, workdir: Path) -> dict:
        rel = self.remote_paths(plan, artifact_path, clip)
        for key, local in (("artifact", artifact_path), ("clip", clip)):
            if rel[key] not in self._pushed:
                self._run(push_command(self.serial, local, FILES / rel[key]), timeout=900)
                self._pushed.add(rel[key])
        plan_file = workdir / f"{plan['cell_id']}.plan.json"
        plan_file.write_text(json.dumps(self.device_plan(plan, rel), indent=1))
        self._run(push_command(self.serial, plan_file, FILES / rel["plan"]))
        self._run(adb(self.serial, "shell", "rm", "-f", str(FILES / rel["result"])))
        self._run(force_stop_command(self.serial))
        thermal0 = parse_thermal(self._run(thermal_command(self.serial)))
        battery0 = parse_battery(self._run(battery_command(self.serial)))
        self._run(start_command(self.serial, rel["plan"], rel["result"]))
        deadline = time.monotonic() + self.timeout_s
        while self._run(exists_command(self.serial, FILES / rel["result"])).strip() != "yes":
            if time.monotonic() > deadline:
                self._run(force_stop_command(self.serial))
                raise VstError(f"{self.device.name}: no result after {self.timeout_s:.0f} s; see "
                               f"`adb -s {self.serial} logcat -s VstBench`")
            time.sleep(2)
        local = workdir / f"{plan['cell_id']}.device.json"
        self._run(pull_command(self.serial, FILES / rel["result"], local))
        self._run(force_stop_command(self.serial))
        result = read_tool_json(local, "the Android harness")
        return self.merge(result, plan, thermal0, battery0, parse_thermal(self._run(thermal_command(self.serial))),
                          parse_battery(self._run(battery_command(self.serial))))

    @staticmethod
    def merge(result: dict, plan: dict, thermal0, battery0, thermal1, battery1) -> dict:
        """Put the host-side plan back (paths as on the host) and fill the readings the app could not take."""
        result = dict(result)
        result["plan"] = plan
        env = dict(result.get("environment", {}))
        for key, value in (("thermal_start", thermal0), ("thermal_end", thermal1), ("battery_start", battery0),
                           ("battery_end", battery1)):
            if env.get(key) is None:
                env[key] = value
        result["environment"] = env
        return result
