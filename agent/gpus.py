"""Which GPUs this host offers: detected (nvidia-smi, else /dev/nvidia<N>), or a count given by the operator.

The ids are what the control plane registers (resource GPU, a STRINGSET, as ECS shows it) and
hands to tasks (containers[].gpuIds), and what the Docker executor passes as device ids of an
NVIDIA device request: nvidia-smi's UUIDs when it answers, else the device indices.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

_UUID = re.compile(r"\(UUID:\s*([^)\s]+)\)")
_DEVICE = re.compile(r"nvidia(\d+)")


def parse_nvidia_smi(output: str) -> list[str]:
    """`nvidia-smi -L` lines ("GPU 0: Tesla T4 (UUID: GPU-8f...)") -> their UUIDs, in order."""
    return [m.group(1) for m in map(_UUID.search, output.splitlines()) if m]


def device_indices(names: Sequence[str]) -> list[str]:
    """The indices of /dev/nvidia<N> device names (nvidiactl, nvidia-uvm are not GPUs), sorted."""
    found = sorted({int(m.group(1)) for m in (_DEVICE.fullmatch(n) for n in names) if m})
    return [str(i) for i in found]


def _nvidia_smi() -> str:
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return ""
    try:
        done = subprocess.run([binary, "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout if done.returncode == 0 else ""


def detect(smi: Callable[[], str] = _nvidia_smi, dev: Path = Path("/dev")) -> list[str]:
    """This host's GPU ids: nvidia-smi's UUIDs, else the indices of /dev/nvidia<N>; [] without GPUs."""
    ids = parse_nvidia_smi(smi())
    if ids:
        return ids
    try:
        return device_indices([p.name for p in dev.iterdir()])
    except OSError:
        return []


def offered(count: int | None, detected: Sequence[str]) -> list[str]:
    """What the agent registers: the detected GPUs, or with a count (`--gpus N`) that many: the first
    N detected ones, padded with the next device indices (a simulated or not yet visible GPU)."""
    if count is None:
        return list(detected)
    ids = list(detected[:count])
    index = 0
    while len(ids) < count:
        if str(index) not in ids:
            ids.append(str(index))
        index += 1
    return ids
