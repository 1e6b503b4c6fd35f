"""The jobs' C-heap policy (graphlearn.training.configure_heap / kept_heap): a training loop reuses the pages its
previous epoch freed instead of faulting fresh ones in, and hands them back when it ends.

Each case runs in its own interpreter: the policy is process-wide (glibc's mallopt), so it must not leak into the
other tests, and the default policy is only observable in a process that never set it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What a 100k-node model's epoch does, smaller: several blocks below the 32 MiB heap threshold in a training loop
# (fit_epochs), and a block above it in a kept_heap loop (the retrieval head's steps). Minor page faults are counted
# over 10 epochs after 2 of warm-up.
SCRIPT = r"""
import json, resource, sys
import torch
from graphlearn import training

torch.set_num_threads(1)
configured = training.configure_heap() if sys.argv[1] == "job" else False
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * 4096
seen = []

def epoch(_):
    blocks = [torch.ones(2_000_000) for _ in range(4)]  # 4 x 8 MB
    return {"loss": float(sum(b[-1] for b in blocks))}

training.fit_epochs(epoch, epochs=12, on_epoch=lambda s, e, m: seen.append(faults()))
small = seen[-1] - seen[1]
with training.kept_heap():
    for step in range(12):
        if step == 2:
            start = faults()
        block = torch.ones(12_000_000)  # 48 MB
        del block
    large = faults() - start
print(json.dumps({"configured": configured, "small": small, "large": large, "rss_after": rss()}))
"""


def _run(mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator and /proc")
def test_training_loops_reuse_freed_pages_in_a_job_and_hand_them_back():
    default, job = _run("default"), _run("job")
    if not job["configured"]:
        pytest.skip("not glibc: mallopt unavailable, the policy is a no-op")
    assert default["configured"] is False
    small, large = 10 * 32 * 10**6 // 4096, 10 * 48 * 10**6 // 4096  # the pages the loops touch
    # glibc's defaults: the 48 MB block is mmapped afresh every epoch; how much of the heap top free() hands back
    # depends on the heap's state (measured: 15-76k of the 78k pages of the small blocks)
    assert default["large"] > large // 2, default
    assert default["small"] > 0, default
    # the job's policy: the epochs' blocks come from the pages the previous epoch freed (measured: 0, or, with
    # torch-sparse / torch-scatter loaded beside torch_geometric, one of the 10 epochs' blocks, 7,813 pages, in a
    # third of the runs), against 15-76k pages by default
    assert job["small"] <= small // 10 + 64 and job["small"] < default["small"], (default, job)
    assert job["large"] < default["large"] // 4, (default, job)
    # and the loops' ends handed them back (release_freed_memory): RSS is not the loops' working set
    assert job["rss_after"] < default["rss_after"] + 30 * 10**6, (default, job)


def test_kept_heap_outside_a_job_changes_nothing_and_still_trims(monkeypatch):
    from graphlearn import training

    calls, trims = [], []
    monkeypatch.setattr(training, "_HEAP_CONFIGURED", [False])
    monkeypatch.setattr(training, "_mallopt", lambda *a: calls.append(a) or True)
    monkeypatch.setattr(training, "release_freed_memory", lambda: trims.append(1))
    with training.kept_heap():
        pass
    assert calls == [] and trims == [1]  # no mallopt: a library user's process keeps glibc's own policy
    monkeypatch.setattr(training, "_HEAP_CONFIGURED", [True])
    with pytest.raises(RuntimeError, match="boom"), training.kept_heap():
        raise RuntimeError("boom")
    # in a job: mmap off inside, glibc's default M_MMAP_MAX back afterwards, even when the block raised
    assert calls == [(training._M_MMAP_MAX, 0), (training._M_MMAP_MAX, training._DEFAULT_MMAP_MAX)]
    assert trims == [1, 1]
