"""Milliseconds per epoch of GLNN and of the Cold Brew student's MLP2 on ``synthetic:N`` (fixed 30 epochs, no early
stopping, random teacher outputs; 1 torch thread), printed as one JSON line. Run it with ``PYTHONPATH`` pointing at
two checkouts, alternately, to pair a change (benchmarks/results/speed.md).

    PYTHONPATH=. python benchmarks/epoch_cost.py 30000
"""

from __future__ import annotations

import json
import sys
import time

EPOCHS = 30


def main(n: int) -> dict:
    import torch

    from graphlearn.data.protocols import apply_protocol
    from graphlearn.data.registry import load_dataset
    from graphlearn.data.splits import node_degree
    from graphlearn.methods.coldbrew import ColdBrewStudent
    from graphlearn.methods.coldbrew.glnn import train_glnn

    torch.set_num_threads(1)
    d = apply_protocol(load_dataset(f"synthetic:{n}"), "coldstart", seed=0)
    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(d.num_nodes, 5, generator=g)
    emb = torch.randn(d.num_nodes, 64, generator=g)
    cand = node_degree(d.edge_index, d.num_nodes) > 0
    out = {}
    torch.manual_seed(0)
    t = time.perf_counter()
    train_glnn(d.x, d.y, teacher, train_mask=d.train_mask, val_mask=d.val_mask, kd_mask=cand & ~d.val_mask, lam=0.0,
               epochs=EPOCHS, patience=None)  # fmt: skip
    out["glnn_ms_per_epoch"] = (time.perf_counter() - t) / EPOCHS * 1000
    torch.manual_seed(0)
    student = ColdBrewStudent(64, 64, 5, hidden_channels=256, k=50, query="features", metric="cos", temperature=0.1)
    stamps: dict[str, list[float]] = {}
    student.fit(
        d.x, d.y, emb, train_mask=d.train_mask, val_mask=d.val_mask, candidate_mask=cand, teacher_logits=teacher,
        kd_weight=10.0, epochs=EPOCHS, patience=None,
        on_epoch=lambda stage, e, m: stamps.setdefault(stage, []).append(time.perf_counter()),
    )  # fmt: skip
    t2 = stamps["ColdBrew/mlp2"]
    out["mlp2_ms_per_epoch"] = (t2[-1] - t2[0]) / (len(t2) - 1) * 1000
    return out


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30000)))
