"""Shared by the benchmark scripts: hardware description, running a CLI job, writing results files."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def status_kb(field: str) -> int:
    """A ``kB`` field of this process's ``/proc/self/status`` (``VmRSS``, ``VmHWM``; Linux), 0 where it is absent."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def hardware() -> str:
    """CPU model, core count, OS, and GPU (none unless torch sees one)."""
    model = "unknown CPU"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        import torch  # noqa: PLC0415

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except ImportError:
        gpu = "no GPU"
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, {gpu}"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def run_cli(argv: list[str]) -> tuple[dict, float]:
    """Run ``graphlearn <argv> --json`` in-process; return (results JSON, seconds). Raises on a non-zero exit."""
    from pipelines.cli import main as cli  # noqa: PLC0415

    buf = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(buf):
        rc = cli(argv)
    if rc != 0:
        raise SystemExit(f"graphlearn {' '.join(argv)} failed with exit code {rc}")
    out = buf.getvalue()
    return json.loads(out[out.index("{") :]), time.perf_counter() - t0


def write_results(stem: str | os.PathLike, markdown: str, obj) -> Path:
    """Write ``<stem>.md`` and ``<stem>.json`` each through a temporary file and ``os.replace``, so a long job that
    rewrites its results after every step never leaves a half-written file."""
    from graphlearn.io import atomic_write_text  # noqa: PLC0415

    stem = Path(stem)
    for suffix, text in ((".md", markdown), (".json", json.dumps(obj, indent=2) + "\n")):
        atomic_write_text(stem.with_name(stem.name + suffix), text)
    return stem
