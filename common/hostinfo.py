"""What this machine is, for results and reports."""
from __future__ import annotations

import platform


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# Resident memory of this process (Linux: /proc/self/status). The high-water mark VmHWM is reset by writing "5" to
# /proc/self/clear_refs, so that a cell's peak is its own and not the imports' before it.
def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


MEMORY_SOURCE = "/proc/self/status (VmRSS, VmHWM)"


def resident_mb() -> float | None:
    kib = _status_kib("VmRSS")
    return None if kib is None else kib / 1024


def peak_resident_mb() -> float | None:
    kib = _status_kib("VmHWM")
    return None if kib is None else kib / 1024


def reset_peak() -> bool:
    """Start a new high-water mark at the current resident size; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False
