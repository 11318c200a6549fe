"""Device registry (data: bench/data/devices.json plus an optional user file) and resolving a --device argument
to a connected device. Phones are only ever found by asking adb or xcrun devicectl; nothing stands in for one.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from vst.common.errors import VstError

ADD_HINT = ("add it to a JSON registry file ({\"devices\": [{\"name\": ..., \"platform\": \"ios\"|\"android\", "
            "\"chip\": ..., \"match\": {\"productType\"|\"model\": ...}}]}) named by --devices-file or VST_DEVICES")


@dataclass
class Device:
    name: str
    platform: str                  # host, ios, android
    chip: str | None = None
    serial: str | None = None      # adb serial or devicectl identifier
    props: dict[str, Any] = field(default_factory=dict)


# A registry file as resolving a device reads it (entries may carry more fields)
REGISTRY_FIELDS = {
    "type": "object", "required": ["devices"],
    "properties": {"devices": {"type": "array", "items": {
        "type": "object", "required": ["name", "platform", "match"],
        "properties": {"name": {"type": "string", "minLength": 1}, "platform": {"enum": ["host", "ios", "android"]},
                       "chip": {"type": ["string", "null"]},
                       "runner": {"enum": ["swift", "kotlin"],
                                  "description": "host only: measure with this harness's runner instead of Python"},
                       "match": {"type": "object", "additionalProperties": {"type": ["string", "number"]}}}}}},
}


def load_registry(extra: str | Path | None = None) -> dict[str, dict]:
    """name -> entry; entries from `extra` (or $VST_DEVICES) override the shipped ones."""
    from vst.common.records import read_record
    entries = json.loads(resources.files("vst.bench").joinpath("data/devices.json").read_text())["devices"]
    extra = extra or os.environ.get("VST_DEVICES")
    if extra:
        entries = entries + read_record(extra, REGISTRY_FIELDS, "a device registry",
                                        'it must hold {"devices": [{"name": ..., "platform": ...}, ...]}')["devices"]
    return {e["name"]: e for e in entries}


def _norm(v: Any) -> str:
    return re.sub(r"[^0-9A-Za-z,]", "_", str(v)).lower()


def matches(rule: dict, props: dict) -> bool:
    return bool(rule) and all(_norm(props.get(k, "")) == _norm(v) for k, v in rule.items())


# ---- Android: `adb devices -l` ----------------------------------------------------------------------------------

def adb_list_command(adb: str = "adb") -> list[str]:
    return [adb, "devices", "-l"]


def parse_adb_devices(text: str) -> list[dict]:
    """Rows of `adb devices -l`: serial, state (device/unauthorized/offline) and the key:value fields."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("List of devices", "*")):
            continue
        parts = line.split()
        if len(parts) < 2:
            continue
        row = {"serial": parts[0], "state": parts[1]}
        row.update(p.split(":", 1) for p in parts[2:] if ":" in p)
        out.append(row)
    return out


# ---- iOS: `xcrun devicectl list devices --json-output FILE` -----------------------------------------------------

def devicectl_list_command(json_path: str) -> list[str]:
    return ["xcrun", "devicectl", "list", "devices", "--json-output", json_path]


def parse_devicectl_devices(doc: dict) -> list[dict]:
    """Flattened properties of devicectl's devices; state 'connected' when paired and reachable."""
    out = []
    devices = (doc.get("result") or {}).get("devices") if isinstance(doc.get("result"), dict) else None
    if not isinstance(devices, list) or not all(isinstance(d, dict) for d in devices):
        raise VstError("`xcrun devicectl list devices` wrote JSON without a result.devices list; update Xcode "
                       "(15 or newer) and run the command again")
    for d in devices:
        hw, dp, cp = d.get("hardwareProperties", {}), d.get("deviceProperties", {}), d.get("connectionProperties", {})
        reachable = cp.get("pairingState") == "paired" and cp.get("tunnelState") not in (None, "unavailable")
        out.append({"serial": d.get("identifier"), "state": "connected" if reachable else "unavailable",
                    "udid": hw.get("udid"), "productType": hw.get("productType"),
                    "marketingName": hw.get("marketingName"), "platform": hw.get("platform"),
                    "name": dp.get("name"), "osVersion": dp.get("osVersionNumber"),
                    "developerMode": dp.get("developerModeStatus")})
    return out


def _tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if not path:
        raise VstError(f"{name} is not on PATH; {hint}")
    return path


def run_tool(cmd: list[str], timeout: float) -> str:
    """Run a device tool (adb, xcrun, xcodebuild) and return its stdout; a failure becomes one line holding the
    end of what the tool said."""
    shown = " ".join(cmd[:6]) + (" ..." if len(cmd) > 6 else "")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise VstError(f"`{shown}` did not answer in {timeout:g} s; reconnect the device (for adb: "
                       "`adb kill-server`) and run the command again") from None
    except OSError as exc:
        raise VstError(f"`{shown}` could not be started ({exc.strerror}); check the tool's installation") from None
    if proc.returncode:
        said = " ".join((proc.stderr or proc.stdout).split())[-300:] or f"exit code {proc.returncode}"
        raise VstError(f"`{shown}` failed: {said}")
    return proc.stdout


def connected_android(adb: str | None = None) -> list[dict]:
    adb = adb or _tool("adb", "install Android platform-tools and enable USB debugging on the phone")
    return parse_adb_devices(run_tool(adb_list_command(adb), timeout=30))


def connected_ios() -> list[dict]:
    _tool("xcrun", "iOS devices need a Mac with Xcode 15 or newer (xcrun devicectl)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "devices.json"
        run_tool(devicectl_list_command(str(out)), timeout=60)
        if not out.exists():
            raise VstError("`xcrun devicectl list devices` wrote no device list; check that Xcode 15+ is selected "
                           "(xcode-select -p)")
        return parse_devicectl_devices(read_tool_json(out, "`xcrun devicectl list devices`"))


def read_tool_json(path: Path, what: str) -> dict:
    """A JSON object a device tool or harness wrote; anything else is one line naming the tool."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VstError(f"{what} wrote no readable JSON ({type(exc).__name__}: {str(exc)[:120]}); update the tool "
                       "(Xcode, platform-tools or the vst harness) and run the command again") from None
    if not isinstance(doc, dict):
        raise VstError(f"{what} wrote JSON that is not an object; update the tool and run the command again")
    return doc


def _describe(rows: list[dict]) -> str:
    return ", ".join(f"{r['serial']} ({r.get('model') or r.get('marketingName') or r.get('productType') or '?'}, "
                     f"{r['state']})" for r in rows) or "none"


def _pick(name: str, entry: dict | None, rows: list[dict], platform: str) -> Device:
    ok_state = "device" if platform == "android" else "connected"
    hits = [r for r in rows if (entry and matches(entry["match"], r)) or r["serial"] == name or r.get("udid") == name]
    ready = [r for r in hits if r["state"] == ok_state]
    if ready:
        r = ready[0]
        return Device(entry["name"] if entry else name, platform, entry.get("chip") if entry else None,
                      r["serial"], r)
    if hits:
        raise VstError(f"{name} is attached but {hits[0]['state']}: unlock it and accept the debugging/pairing "
                       "prompt, then retry")
    rule = entry["match"] if entry else {"serial": name}
    raise VstError(f"no connected {platform} device matches {name} ({rule}); connected: {_describe(rows)}; "
                   f"connect it (USB debugging / Developer Mode on) or, for another model, {ADD_HINT}")


def resolve_device(name: str, registry: dict[str, dict] | None = None) -> Device:
    """'host', a registry name (iphone11pro, pixel7, ...) or an adb serial / iOS identifier -> a connected Device."""
    registry = registry if registry is not None else load_registry()
    entry = registry.get(name)
    if name == "host" or (entry and entry["platform"] == "host"):
        if entry and entry.get("runner"):  # a phone harness's runner built and run on this machine
            return Device(entry["name"], "host", entry.get("chip"), props={"runner": entry["runner"]})
        return Device("host", "host", entry.get("chip") if entry else None)
    if entry:
        rows = connected_android() if entry["platform"] == "android" else connected_ios()
        return _pick(name, entry, rows, entry["platform"])
    # not a registry name: maybe a serial of a connected phone
    have_adb, have_xcrun = shutil.which("adb"), shutil.which("xcrun")
    if have_adb:
        rows = connected_android(have_adb)
        if any(r["serial"] == name for r in rows):
            return _pick(name, None, rows, "android")
    if have_xcrun:
        rows = connected_ios()
        if any(name in (r["serial"], r.get("udid")) for r in rows):
            return _pick(name, None, rows, "ios")
    known = ", ".join(sorted(registry))
    tools = ("" if have_adb or have_xcrun else
             "; neither adb nor xcrun is on PATH, so no phone can be reached from this machine")
    raise VstError(f"unknown device {name!r}: not in the registry ({known}) nor a connected serial{tools}; "
                   f"{ADD_HINT}")
