"""Speed and memory of the paths issue "eight measured wastes" names, paired before/after in one run.

    python benchmarks/speed.py --before ../wt-base          # a checkout of the code before the change
    python benchmarks/speed.py --before ../wt-base --only teacher_step,search

Each case runs in a fresh subprocess (1 torch thread unless stated) with ``PYTHONPATH`` set to the tree measured,
once for ``--before`` and once for this checkout, alternating, ``--repeats`` times; the table reports the median
seconds and the peak resident memory of the process (``ru_maxrss``). Outputs are compared too: a case whose
result digest differs between the trees is flagged. Writes ``benchmarks/results/speed.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

from _common import HERE, hardware, now, write_results

ROOT = HERE.parent
DATA = os.environ.get("GRAPHLEARN_DATA", str(ROOT.parent / "shared" / "data"))

PRELUDE = """
import hashlib, json, resource, sys, time
import numpy as np, torch
torch.set_num_threads(THREADS)
torch.manual_seed(0)
def digest(*ts):
    h = hashlib.sha1()
    for t in ts:
        h.update(np.ascontiguousarray(t.detach().cpu().numpy() if hasattr(t, 'detach') else t).tobytes())
    return h.hexdigest()[:12]
def done(seconds, out):
    print(json.dumps({"seconds": seconds, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "digest": out}))
"""

# A Cold Brew student trained on Cora's cold-start split, and 200 of its isolated nodes as new nodes.
STUDENT_SETUP = """
import copy
from torch_geometric.transforms import NormalizeFeatures
from graphlearn.data import load_dataset
from graphlearn.data.splits import ColdStartSplit
from graphlearn.methods.coldbrew import ColdBrewConfig, run_coldbrew
d = ColdStartSplit(seed=0)(NormalizeFeatures()(copy.copy(load_dataset("cora", root=DATA))))
st = run_coldbrew(d, ColdBrewConfig(epochs=50, models=("GNN", "ColdBrew")), seed=0)["trained"]["ColdBrew"]
new = d.x[d.isolated_mask][:200]
"""

# Forward + backward of the Cold Brew teacher (GCN+SE) on one dataset, the mean over a number of steps.
TEACHER_STEP = """
from graphlearn.data import load_dataset
from graphlearn.methods.coldbrew import ColdBrewTeacher
d = load_dataset("{dataset}", root=DATA)
torch.manual_seed(0)
m = ColdBrewTeacher(d.num_features, 64, int(d.y.max()) + 1, d.num_nodes, se_layers=(0,))
P = m.operator(d.edge_index, d.num_nodes)
def step():
    m.zero_grad(); out = m(d.x, P); out.logsumexp(-1).sum().backward(); return out
step()
t = time.perf_counter()
for _ in range({steps}): out = step()
done((time.perf_counter() - t) / {steps}, digest(out, m.convs[0].lin.weight.grad))
"""

# name -> (description, code); the code calls done(seconds, digest) once.
CASES = {
    "dropout_dense": (
        "feature_dropout on a dense 200k x 256 input, first call (finding 2)",
        """
from graphlearn.models.mlp import feature_dropout
x = torch.rand(200_000, 256) + 0.01
torch.manual_seed(0)
t = time.perf_counter(); out = feature_dropout(x, 0.5, True); s = time.perf_counter() - t
done(s, digest(out))
""",
    ),
    "dropout_train": (
        "graphlearn's dropout (sparse.dropout) p=0.5 on a dense 100k x 256 input that requires grad, forward + "
        "backward, median of 5 (finding 7; the digest differs by design: another random stream)",
        """
from graphlearn import sparse
x = torch.randn(100_000, 256, requires_grad=True)
g = torch.randn(100_000, 256)
times = []
for _ in range(6):
    t = time.perf_counter(); out = sparse.dropout(x, 0.5, True); out.backward(g); times.append(time.perf_counter() - t)
    x.grad = None
done(float(np.median(times[1:])), digest(out))
""",
    ),
    "sign_epoch_200k": (
        "one SIGN training epoch (default hparams: K=3, input dropout 0.6, hidden 32) on synthetic:200000, forward + "
        "backward + Adam step + the evaluation forward, median of 5 (finding 7)",
        """
import torch.nn.functional as F
from graphlearn.data import dc_sbm
from graphlearn.models import build_model, default_hparams, split_hparams
d = dc_sbm(200_000, seed=0)
mk, tk = split_hparams(default_hparams("sign"))
h, layers, p = mk.pop("hidden_channels"), mk.pop("num_layers"), mk.pop("dropout")
torch.manual_seed(0)
m = build_model("sign", d.num_features, h, int(d.y.max()) + 1, num_layers=layers, dropout=p, **mk)
x = m.preprocess(d.x, d.edge_index)
opt = torch.optim.Adam(m.parameters(), lr=0.01, weight_decay=5e-4)
def epoch():
    m.train(); opt.zero_grad()
    loss = F.cross_entropy(m(x)[d.train_mask], d.y[d.train_mask]); loss.backward(); opt.step()
    m.eval()
    with torch.no_grad():
        return m(x)
times = []
for _ in range(6):
    t = time.perf_counter(); out = epoch(); times.append(time.perf_counter() - t)
done(float(np.median(times[1:])), digest(out))
""",
    ),
    "teacher_step": (
        "Cold Brew teacher (GCN+SE) forward + backward, Amazon-Photo, mean of 10 steps (finding 3)",
        TEACHER_STEP.format(dataset="amazon-photo", steps=10),
    ),
    "teacher_step_cora": (
        "Cold Brew teacher (GCN+SE) forward + backward, Cora, mean of 20 steps (finding 3)",
        TEACHER_STEP.format(dataset="cora", steps=20),
    ),
    "search": (
        "virtual-neighbour search, Cora CSR queries (2708) x 2000 cosine keys, k=50, mean of 10 calls (finding 4)",
        """
from graphlearn import sparse
from graphlearn.data import load_dataset
from graphlearn.methods.coldbrew import virtual_neighbors
d = load_dataset("cora", root=DATA)
keys = torch.nn.functional.normalize(d.x[:2000], dim=-1)
q = sparse.normalize_rows(d.x.to_sparse_csr())
vals = torch.randn(2000, 16)
virtual_neighbors(q, keys, 50, metric="ip", values=vals)
t = time.perf_counter()
for _ in range(10): r = virtual_neighbors(q, keys, 50, metric="ip", values=vals)
done((time.perf_counter() - t) / 10, digest(r.index, r.aggregate))
""",
    ),
    "student_latency": (
        "Cold Brew student (Cora, query=features, cos, k=50): one new node per call, median of 300 calls "
        "(findings 5, 6); digest: predictions of 200 nodes one at a time",
        STUDENT_SETUP
        + """for i in range(20): st.logits(new[i : i + 1])
times, preds = [], []
for i in range(300):
    row = new[i % 200 : i % 200 + 1]
    t = time.perf_counter(); out = st.logits(row); times.append(time.perf_counter() - t)
    if i < 200: preds.append(int(out.argmax()))
done(float(np.median(times)), digest(np.array(preds)))
""",
    ),
    "student_batch": (
        "Cold Brew student (Cora): one batch of 200 new nodes, median of 15 calls (findings 5, 6); digest: predictions",
        STUDENT_SETUP
        + """st.logits(new)
times = []
for _ in range(15):
    t = time.perf_counter(); out = st.logits(new); times.append(time.perf_counter() - t)
done(float(np.median(times)), digest(out.argmax(-1)))
""",
    ),
    "coldbrew_seed_cora": (
        "one Cold Brew seed (all models, Cold Brew protocol), Cora, row-normalised",
        """
import copy
from torch_geometric.transforms import NormalizeFeatures
from graphlearn.data import load_dataset
from graphlearn.data.splits import ColdStartSplit
from graphlearn.methods.coldbrew import ColdBrewConfig, run_coldbrew
d = ColdStartSplit(seed=0)(NormalizeFeatures()(copy.copy(load_dataset("cora", root=DATA))))
t = time.perf_counter()
r = run_coldbrew(d, ColdBrewConfig(), seed=0)
done(time.perf_counter() - t, json.dumps({m: v["acc"] for m, v in r["models"].items()}, sort_keys=True))
""",
    ),
    "coldbrew_seed_10k": (
        "one Cold Brew seed (all models, Cold Brew protocol), synthetic:10000",
        """
from graphlearn.data import dc_sbm
from graphlearn.data.splits import ColdStartSplit
from graphlearn.methods.coldbrew import ColdBrewConfig, run_coldbrew
d = ColdStartSplit(seed=0)(dc_sbm(10_000, seed=0))
t = time.perf_counter()
r = run_coldbrew(d, ColdBrewConfig(), seed=0)
done(time.perf_counter() - t, json.dumps({m: v["acc"] for m, v in r["models"].items()}, sort_keys=True))
""",
    ),
}


def run_case(tree: Path, name: str, threads: int) -> dict:
    code = PRELUDE.replace("THREADS", str(threads)) + f"DATA = {DATA!r}\n" + textwrap.dedent(CASES[name][1])
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tree)
    if out.returncode != 0:
        raise SystemExit(f"{name} failed in {tree}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="a checkout of the code before the change")
    p.add_argument("--only", default=",".join(CASES), help=f"comma-separated cases from {list(CASES)}")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--output", default=str(HERE / "results" / "speed"))
    args = p.parse_args(argv)
    before = Path(args.before).resolve()
    rows = []
    for name in [c.strip() for c in args.only.split(",") if c.strip()]:
        runs = {"before": [], "after": []}
        for _ in range(args.repeats):  # alternate, so a change in the machine's load hits both sides
            runs["before"].append(run_case(before, name, args.threads))
            runs["after"].append(run_case(ROOT, name, args.threads))
        row = {"case": name, "what": CASES[name][0]}
        for side, rs in runs.items():
            row[side] = {
                "seconds": statistics.median(r["seconds"] for r in rs),
                "maxrss_mb": max(r["maxrss_mb"] for r in rs),
                "digest": rs[0]["digest"],
                "all_seconds": [r["seconds"] for r in rs],
            }
        row["speedup"] = row["before"]["seconds"] / row["after"]["seconds"]
        row["same_output"] = row["before"]["digest"] == row["after"]["digest"]
        rows.append(row)
        print(f"{name}: {row['before']['seconds']:.4g} s -> {row['after']['seconds']:.4g} s "
              f"(x{row['speedup']:.2f}), RSS {row['before']['maxrss_mb']:.0f} -> {row['after']['maxrss_mb']:.0f} MB, "
              f"same output: {row['same_output']}", flush=True)  # fmt: skip
    lines = [
        "# Speed and memory: before / after, paired",
        "",
        f"- command: `python benchmarks/speed.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
        f"- hardware: {hardware()}, {args.threads} torch thread(s) per process",
        f"- date: {now()}",
        f"- before: the tree at `{before}` (git {git_rev(before)}); after: this checkout (git {git_rev(ROOT)})",
        f"- each case {args.repeats}x per side in fresh processes, alternating; median seconds, peak RSS of the "
        "process; `same output` compares a digest of the case's result",
        "",
        "| case | what | before s | after s | speed-up | before RSS MB | after RSS MB | same output |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        b, a = r["before"], r["after"]
        lines.append(
            f"| {r['case']} | {r['what']} | {b['seconds']:.4g} | {a['seconds']:.4g} | {r['speedup']:.2f}x | "
            f"{b['maxrss_mb']:.0f} | {a['maxrss_mb']:.0f} | {'yes' if r['same_output'] else 'NO'} |"
        )
    write_results(args.output, "\n".join(lines) + "\n", {"date": now(), "hardware": hardware(), "rows": rows})


def git_rev(tree: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "?"


if __name__ == "__main__":
    main()
