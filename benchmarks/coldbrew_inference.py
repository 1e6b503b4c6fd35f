"""Inference cost for new nodes: the Cold Brew student (features only) vs its GraphSAGE teacher (needs edges).

A GLNN-style inductive split (``InductiveSplit``: a random share of the test nodes is held out with all its edges)
gives the *new* nodes; the models are trained once on the observed graph (``run_coldbrew``, SAGE convolutions).
Each new node then arrives with its features and its true edges, and is classified by

* ``coldbrew``        - the Cold Brew student on its features alone (MLP1, virtual-neighbour search among the
                        training graph's nodes, MLP2);
* ``coldbrew+edges``  - the same student also given the node's real edges (mean of the neighbours' stored teacher
                        embeddings mixed into the virtual aggregate, ``neighbor_mix=0.5``);
* ``glnn``            - the GLNN MLP distilled from the teacher (features only; the pure-MLP reference);
* ``sage 2-hop``      - the teacher on the node's full 2-hop subgraph (``k_hop_subgraph`` on the training graph
                        plus the node's edges, no fan-out limit), extraction included;
* ``sage full graph`` - the teacher on the whole training graph plus the node.

Per-node latency is a batch of one node (median and p95 over ``--latency-nodes`` nodes x ``--repeats`` rounds,
``time.perf_counter``, warm-up first); throughput is one batch of all new nodes (which then also see their edges to
each other). Accuracy on the same new nodes is reported next to the speed. Writes ``OUTPUT.md`` and ``OUTPUT.json``.

    python benchmarks/coldbrew_inference.py --dataset cora --threads 1
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import k_hop_subgraph
from tqdm.auto import tqdm

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # _common (also when this file is loaded by path, as in the tests)

from _common import hardware, now, write_results  # noqa: E402  (puts the repo root on sys.path)

from graphlearn.data import load_dataset  # noqa: E402
from graphlearn.data.splits import InductiveSplit  # noqa: E402
from graphlearn.methods.coldbrew import ColdBrewConfig, run_coldbrew  # noqa: E402

MODES = {  # name -> (what it needs at inference, description)
    "coldbrew": ("features", "Cold Brew student, features only"),
    "coldbrew+edges": ("features + 1-hop ids", "Cold Brew student + real edges (neighbor_mix=0.5)"),
    "glnn": ("features", "GLNN MLP, features only"),
    "sage 2-hop": ("2-hop subgraph", "SAGE teacher on the full 2-hop subgraph (k_hop_subgraph)"),
    "sage full graph": ("whole graph", "SAGE teacher on the whole training graph + the node"),
}
STUDENT, TEACHERS = "coldbrew", ("sage 2-hop", "sage full graph")  # the student; the teacher modes
WARMUP = 10  # untimed single-node calls per mode and round
BATCH_CALLS = 3  # timed batch calls per mode and round (after one untimed call)
GLNN_SPEEDUP = "146-273x (GLNN, Zhang et al., ICLR 2022: MLP vs SAGE inference with neighbour sampling)"


def default_root() -> str:
    return os.environ.get("GRAPHLEARN_DATA") or str(HERE.parent.parent / "shared" / "data")


class NewNodeGraph:
    """The observed (training) graph relabelled to ``0..n_train-1`` and the held-out nodes' edges to it.

    ``nbrs[j]``: training-graph ids (relabelled) of new node ``j``'s neighbours; ``nbrs_orig[j]``: the same nodes
    by original id (the student's teacher embeddings use original ids). ``batch_edge_index``: the training graph plus
    all new nodes (ids ``n_train + j``) with all their edges, those between new nodes included.
    """

    def __init__(self, data: Data):
        n = data.num_nodes
        new = data.test_ind_mask
        self.new_idx = new.nonzero().view(-1)
        self.train_idx = (~new).nonzero().view(-1)
        self.n_train, self.n_new = self.train_idx.numel(), self.new_idx.numel()
        to_local = torch.full((n,), -1, dtype=torch.long)
        to_local[self.train_idx] = torch.arange(self.n_train)
        to_local[self.new_idx] = self.n_train + torch.arange(self.n_new)
        self.edge_index = to_local[data.edge_index]  # observed graph, no new node in it
        full = data.full_edge_index
        touch = new[full[0]] | new[full[1]]
        self.batch_edge_index = torch.cat([self.edge_index, to_local[full[:, touch]]], dim=1)
        src, dst = full[:, new[full[0]] & ~new[full[1]]]  # new -> observed
        pos = torch.full((n,), -1, dtype=torch.long)
        pos[self.new_idx] = torch.arange(self.n_new)
        order = torch.argsort(pos[src], stable=True)
        src, dst = pos[src[order]], dst[order]
        counts = torch.bincount(src, minlength=self.n_new).tolist()
        self.nbrs_orig = list(dst.split(counts))
        self.nbrs = [to_local[d] for d in self.nbrs_orig]
        self.x_train, self.x_new = data.x[self.train_idx], data.x[self.new_idx]
        self.y_new = data.y[self.new_idx]
        # full-graph mode: the training graph's features with one free row for the arriving node
        self.x_buf = torch.cat([self.x_train, self.x_train.new_zeros(1, self.x_train.size(1))])

    def single_edges(self, j: int) -> Tensor:
        """Training graph + new node ``j`` (id ``n_train``), both edge directions."""
        nb = self.nbrs[j]
        me = torch.full_like(nb, self.n_train)
        return torch.cat([self.edge_index, torch.stack([me, nb]), torch.stack([nb, me])], dim=1)


def _single_fns(g: NewNodeGraph, teacher, student, glnn, timers: dict) -> dict[str, Callable]:
    """One function per mode: new node ``j`` -> logits ``[1, C]``. ``sage 2-hop`` appends its extraction / forward
    split to ``timers`` while ``timers["on"]`` is true."""

    def sampled(j: int) -> Tensor:
        t0 = time.perf_counter()
        g.x_buf[g.n_train] = g.x_new[j]
        subset, sub_ei, mapping, _ = k_hop_subgraph(
            g.n_train, 2, g.single_edges(j), relabel_nodes=True, num_nodes=g.n_train + 1
        )
        x_sub = g.x_buf[subset]
        t1 = time.perf_counter()
        out = teacher(x_sub, sub_ei)[mapping]
        if not timers["on"]:
            return out
        timers["extract"].append(t1 - t0)
        timers["forward"].append(time.perf_counter() - t1)
        timers["subgraph_nodes"].append(subset.numel())
        return out

    def full(j: int) -> Tensor:
        g.x_buf[g.n_train] = g.x_new[j]
        return teacher(g.x_buf, g.single_edges(j))[g.n_train :]

    def with_edges(j: int) -> Tensor:
        nb = g.nbrs_orig[j]
        return student.logits(g.x_new[j : j + 1], edge_index=torch.stack([torch.zeros_like(nb), nb]))

    return {
        "coldbrew": lambda j: student.logits(g.x_new[j : j + 1]),
        "coldbrew+edges": with_edges,
        "glnn": lambda j: glnn(g.x_new[j : j + 1]),
        "sage 2-hop": sampled,
        "sage full graph": full,
    }


def _batch_fns(g: NewNodeGraph, teacher, student, glnn) -> dict[str, Callable]:
    """One function per mode: all new nodes at once -> logits ``[n_new, C]``."""
    x_all = torch.cat([g.x_train, g.x_new])
    seeds = g.n_train + torch.arange(g.n_new)
    ei_orig = torch.cat(
        [torch.arange(g.n_new).repeat_interleave(torch.tensor([len(b) for b in g.nbrs_orig])), torch.cat(g.nbrs_orig)]
    ).view(2, -1)

    def sampled() -> Tensor:
        subset, sub_ei, mapping, _ = k_hop_subgraph(
            seeds, 2, g.batch_edge_index, relabel_nodes=True, num_nodes=x_all.size(0)
        )
        return teacher(x_all[subset], sub_ei)[mapping]

    return {
        "coldbrew": lambda: student.logits(g.x_new),
        "coldbrew+edges": lambda: student.logits(g.x_new, edge_index=ei_orig),
        "glnn": lambda: glnn(g.x_new),
        "sage 2-hop": sampled,
        "sage full graph": lambda: teacher(x_all, g.batch_edge_index)[g.n_train :],
    }


def _acc(logits: Tensor, y: Tensor) -> float:
    return round(100.0 * float((logits.argmax(-1) == y).float().mean()), 2)


def _stats_ms(values: Sequence[float]) -> dict[str, float]:
    a = np.asarray(values) * 1e3
    return {
        "median": round(float(np.median(a)), 4),
        "p95": round(float(np.percentile(a, 95)), 4),
        "mean": round(float(a.mean()), 4),
        "n": int(a.size),
    }


def gemm_peak(n: int = 1024, calls: int = 10) -> float:
    """This CPU's dense float32 GEMM rate (FLOP/s) at the current torch thread count: median of ``calls``
    ``[n, n] @ [n, n]`` products."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / float(np.median(times))


def flops_per_node(student, glnn, x_new: Tensor) -> dict[str, float]:
    """Multiply-adds x 2 per new node actually done by the student and the GLNN MLP (sparse first layers count
    their stored entries; the student's feature search counts nnz x candidates)."""
    nnz = float((x_new != 0).sum(1).float().mean())
    h, e, c = student.hidden_channels, student.embed_channels, student.out_channels
    cand = int(student.candidate_index.numel())
    search = nnz * cand if student.query == "features" else e * cand
    mlp1 = nnz * h + h * e
    mlp2 = (nnz + 2 * e) * h + h * c
    g = glnn.mlp.lins
    glnn_f = nnz * g[0].out_channels + sum(lin.in_channels * lin.out_channels for lin in g[1:])
    return {"coldbrew": 2 * (mlp1 + search + student.k * e + mlp2), "glnn": 2 * glnn_f, "nnz_per_row": nnz}


def run(
    data: Data,
    config: ColdBrewConfig | None = None,
    *,
    ratio: float = 0.2,
    seed: int = 0,
    latency_nodes: int = 200,
    repeats: int = 5,
    progress: bool = True,
) -> dict:
    """Train once, then time and score every mode of :data:`MODES` on the held-out nodes; returns the results."""
    config = config or ColdBrewConfig(
        conv="sage", models=("GNN", "GNN+SE", "GLNN", "ColdBrew"), se_layers=(0,), epochs=200, patience=50
    )
    split = InductiveSplit(ratio=ratio, seed=seed)(data)
    g = NewNodeGraph(split)
    if g.n_new == 0:
        raise ValueError(f"ratio={ratio} holds out no test node")
    t0 = time.perf_counter()
    out = run_coldbrew(split, config, seed=seed)
    train_s = time.perf_counter() - t0
    teacher, student, glnn = (out["trained"][k].eval() for k in ("GNN", "ColdBrew", "GLNN"))

    nodes = list(range(min(latency_nodes, g.n_new)))
    timers: dict = {"on": False, "extract": [], "forward": [], "subgraph_nodes": []}
    single, batch = _single_fns(g, teacher, student, glnn, timers), _batch_fns(g, teacher, student, glnn)
    lat: dict[str, list[float]] = {m: [] for m in MODES}
    thr: dict[str, list[float]] = {m: [] for m in MODES}
    first: dict[str, Tensor] = {}
    load_before = os.getloadavg()[0]
    bar = tqdm(total=repeats * len(MODES), desc="timing", disable=not progress)
    with torch.inference_mode():
        # rounds x modes: a change in the machine's load hits every mode alike; within a round a mode runs its
        # nodes back to back (warm caches, as when it serves alone)
        for _round in range(repeats):
            for m, fn in single.items():
                for j in nodes[:WARMUP]:
                    fn(j)
                outs, timers["on"] = [], True
                for j in nodes:
                    t = time.perf_counter()
                    o = fn(j)
                    lat[m].append(time.perf_counter() - t)
                    outs.append(o)
                timers["on"] = False
                first.setdefault(m, torch.cat(outs))
                fb = batch[m]
                logits = fb()
                for _ in range(BATCH_CALLS):
                    t = time.perf_counter()
                    fb()
                    thr[m].append(time.perf_counter() - t)
                first.setdefault(m + "/batch", logits)
                bar.update(1)
    bar.close()
    load_after = os.getloadavg()[0]

    y_lat, y_new = g.y_new[nodes], g.y_new
    modes = {}
    for m, (needs, desc) in MODES.items():
        t_batch = float(np.median(thr[m]))
        modes[m] = {
            "description": desc,
            "needs": needs,
            "latency_ms": _stats_ms(lat[m]),
            "batch": {
                "nodes": g.n_new,
                "seconds_median": round(t_batch, 6),
                "nodes_per_s": round(g.n_new / t_batch, 1),
            },
            "accuracy": {
                "one_at_a_time": _acc(first[m], y_lat),
                "one_at_a_time_nodes": len(nodes),
                "batch": _acc(first[m + "/batch"], y_new),
                "batch_nodes": g.n_new,
            },
        }
    modes["sage 2-hop"]["breakdown_ms"] = {
        "extract": _stats_ms(timers["extract"]),
        "forward": _stats_ms(timers["forward"]),
        "subgraph_nodes_median": float(np.median(timers["subgraph_nodes"])),
    }
    # speed-up of each feature-based mode over each teacher mode: teacher time / mode time
    speedup = {
        m: {
            t: {
                "latency_median": round(modes[t]["latency_ms"]["median"] / modes[m]["latency_ms"]["median"], 2),
                "latency_p95": round(modes[t]["latency_ms"]["p95"] / modes[m]["latency_ms"]["p95"], 2),
                "throughput": round(modes[m]["batch"]["nodes_per_s"] / modes[t]["batch"]["nodes_per_s"], 2),
            }
            for t in TEACHERS
        }
        for m in MODES
        if m not in TEACHERS
    }
    checks = {
        # full 2-hop with mean aggregation is exact: the two teacher modes must agree
        "teacher_2hop_vs_full_max_abs_diff": float((first["sage 2-hop"] - first["sage full graph"]).abs().max()),
        "student_single_vs_batch_pred_agreement": _acc(
            first[STUDENT], first[STUDENT + "/batch"][: len(nodes)].argmax(-1)
        ),
    }
    ind = {k: v["acc"].get("ind") for k, v in out["models"].items()}
    peak = gemm_peak()
    flops = flops_per_node(student, glnn, g.x_new)
    compute = {
        "gemm_peak_gflops": peak / 1e9,
        "flops_per_node": flops,
        "fraction_of_gemm_peak": {
            m: flops[m] * modes[m]["batch"]["nodes_per_s"] / peak for m in ("coldbrew", "glnn") if m in modes
        },
    }
    return {
        "compute": compute,
        "dataset": {
            "name": getattr(data, "name", "unnamed"),
            "num_nodes": data.num_nodes,
            "num_edges_directed": int(data.edge_index.size(1)),
            "num_features": int(data.x.size(1)),
            "num_classes": int(getattr(data, "num_classes", int(data.y.max()) + 1)),
            "new_nodes": g.n_new,
            "training_graph_nodes": g.n_train,
            "training_graph_edges_directed": int(g.edge_index.size(1)),
            "new_node_degree_median": float(np.median([len(b) for b in g.nbrs])),
            "new_nodes_without_training_neighbour": sum(len(b) == 0 for b in g.nbrs),
        },
        "config": config.to_dict(),
        "ratio": ratio,
        "seed": seed,
        "repeats": repeats,
        "latency_nodes": len(nodes),
        "warmup_calls": WARMUP,
        "batch_calls_per_round": BATCH_CALLS,
        "train_seconds": round(train_s, 1),
        "load_avg_1min": [round(load_before, 2), round(load_after, 2)],
        "modes": modes,
        "speedup_over_teacher": speedup,
        "checks": checks,
        "run_coldbrew_acc_new_nodes_isolated": ind,
        "student_teacher": out.get("student_teacher"),
    }


def _markdown(res: dict) -> str:
    d, modes = res["dataset"], res["modes"]
    bd = modes["sage 2-hop"]["breakdown_ms"]
    lines = [
        f"# Cold Brew: inference cost for new nodes ({d['name']})",
        "",
        f"- command: `{res['command']}`",
        f"- date: {res['date_utc']}",
        f"- hardware: {res['hardware']}",
        f"- torch {res['torch']}, torch_geometric {res['torch_geometric']}, {res['threads']} torch thread(s); "
        f"1-min load average before/after timing: {res['load_avg_1min'][0]} / {res['load_avg_1min'][1]} "
        f"(shared machine; other jobs count)",
        f"- data: {d['num_nodes']:,} nodes, {d['num_features']} features, {d['num_classes']} classes; "
        f"`InductiveSplit(ratio={res['ratio']}, seed={res['seed']})` holds out {d['new_nodes']} test nodes "
        f"with their edges. Training graph: {d['training_graph_nodes']:,} nodes, "
        f"{d['training_graph_edges_directed']:,} directed edges. New nodes' median degree into it: "
        f"{d['new_node_degree_median']:g} ({d['new_nodes_without_training_neighbour']} with none)",
        f"- training (once, {res['train_seconds']} s): `run_coldbrew` with conv=sage, models "
        f"{list(res['config']['models'])}, epochs {res['config']['epochs']}, patience "
        f"{res['config']['patience']}; student k={res['config']['k']}, query={res['config']['query']}, "
        f"metric={res['config']['metric']}",
        f"- latency: one node per call, {res['latency_nodes']} nodes x {res['repeats']} rounds (after "
        f"{res['warmup_calls']} warm-up calls per mode and round), `time.perf_counter`; throughput: one batch "
        f"of all {d['new_nodes']} new nodes, median of {res['repeats'] * res['batch_calls_per_round']} calls",
        "",
        "| mode | needs at inference | latency median ms | latency p95 ms | batch nodes/s "
        "| acc % one at a time | acc % batch |",
        "|---|---|---|---|---|---|---|",
    ]
    for m, r in modes.items():
        a = r["accuracy"]
        lines.append(
            f"| {r['description']} | {r['needs']} | {r['latency_ms']['median']:.3f} | "
            f"{r['latency_ms']['p95']:.3f} | {r['batch']['nodes_per_s']:,.0f} | {a['one_at_a_time']:.1f} "
            f"(n={a['one_at_a_time_nodes']}) | {a['batch']:.1f} (n={a['batch_nodes']}) |"
        )
    lines += [
        "",
        f"Speed-up over the teacher (teacher time / mode time; > 1: faster than the teacher). GLNN paper: "
        f"{GLNN_SPEEDUP}.",
        "",
        "| mode | vs 2-hop: latency median | vs 2-hop: latency p95 | vs 2-hop: throughput "
        "| vs full graph: latency median | vs full graph: latency p95 | vs full graph: throughput |",
        "|---|---|---|---|---|---|---|",
    ]
    for m, per_teacher in res["speedup_over_teacher"].items():
        cells = [f"{per_teacher[t][k]:g}x" for t in TEACHERS for k in ("latency_median", "latency_p95", "throughput")]
        lines.append(f"| {modes[m]['description']} | " + " | ".join(cells) + " |")
    iso = {k: v for k, v in res["run_coldbrew_acc_new_nodes_isolated"].items() if v is not None}
    comp = res.get("compute")
    if comp:
        lines += [
            "",
            f"Batch throughput against this CPU's measured dense float32 GEMM rate "
            f"({comp['gemm_peak_gflops']:.1f} GFLOP/s, `[1024, 1024] @ [1024, 1024]`, same threads): the work a "
            f"node needs (sparse first layers count their {comp['flops_per_node']['nnz_per_row']:.0f} stored "
            "entries per row; the student's feature search nnz x candidates), times nodes/s, over that rate.",
            "",
            "| mode | MFLOP per node | batch nodes/s | fraction of GEMM peak |",
            "|---|---:|---:|---:|",
        ]
        for m, frac in comp["fraction_of_gemm_peak"].items():
            f = comp["flops_per_node"][m]
            lines.append(
                f"| {modes[m]['description']} | {f / 1e6:.3f} | {modes[m]['batch']['nodes_per_s']:,.0f} | "
                f"{100 * frac:.1f} % |"
            )
    lines += [
        "",
        "Notes:",
        "",
        "- New nodes arrive one at a time with their edges to the training graph only (edges to other "
        "held-out nodes are dropped); in the batch all of them arrive together and also see their edges to "
        "each other (GLNN's `full_edge_index`), hence the two accuracy columns.",
        "- `sage 2-hop` is the *full* 2-hop neighbourhood from `torch_geometric.utils.k_hop_subgraph` (no "
        "fan-out): torch-sparse / pyg-lib are not installed, so `NeighborLoader` is unavailable. With mean "
        "aggregation it is exact (max |2-hop - full-graph| logit difference "
        f"{res['checks']['teacher_2hop_vs_full_max_abs_diff']:.1e}). Per node: extraction "
        f"{bd['extract']['median']:.3f} ms + forward {bd['forward']['median']:.3f} ms (medians; "
        f"{bd['subgraph_nodes_median']:g} subgraph nodes). `k_hop_subgraph` scans every edge per hop, so "
        "extraction grows with the graph; a CSR sampler would be cheaper.",
        "- The timed teacher is the plain SAGE (`GNN`): the Cold Brew teacher `GNN+SE` has per-node "
        "structural embeddings only for the training graph's nodes, so it cannot run on a subgraph around "
        f"an unseen node. The student was distilled from `{res.get('student_teacher')}` (chosen on "
        "validation, `student_teacher=auto`); `glnn` from `GNN`.",
        "- The student is not only an MLP: every call also searches its k virtual neighbours among all the "
        "training graph's candidate nodes (with query=features: the candidates' keys at the query's stored "
        "entries, nnz x candidates), a cost that grows with the candidate set (an approximate FAISS index takes "
        "over from `ann_min_candidates`). That is what separates it from the GLNN MLP.",
        "- One node per call (`ColdBrewStudent.logits` on one float32 row, no edges) is answered by the NumPy "
        "pass of `graphlearn/methods/coldbrew/onerow.py`: the same parameters and arithmetic in about 30 NumPy "
        "calls instead of about 60 torch operations, whose per-call overhead was most of a node's time; "
        "batches and the `+ real edges` mode use the torch path. Both give the same logits up to float "
        "rounding, except where candidates tie exactly at the k-th neighbour (either path's top-k picks one).",
        f"- Student predictions one at a time vs in the batch agree on "
        f"{res['checks']['student_single_vs_batch_pred_agreement']:.1f}% of nodes.",
        "- For reference, `run_coldbrew`'s accuracy on the held-out nodes left *isolated* (no edge at "
        "inference): " + ", ".join(f"{k} {v:.1f}" for k, v in iso.items()) + ".",
        "- Timings are single runs on a shared machine; ratios are more stable than absolute numbers.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, data: Data | None = None) -> int:
    """Command-line entry point; ``data`` (tests) replaces ``--dataset`` with a given graph."""
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--dataset", default="cora", help="registered dataset name (cora, citeseer, amazon-photo, ...)")
    p.add_argument("--root", default=default_root(), help="data root ($GRAPHLEARN_DATA, else ../shared/data)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--repeats", type=int, default=5, help="timing rounds (every mode runs once per round)")
    p.add_argument("--latency-nodes", type=int, default=200, help="new nodes timed one at a time per round")
    p.add_argument("--ratio", type=float, default=0.2, help="share of the test nodes held out as new nodes")
    p.add_argument("--epochs", type=int, default=200, help="maximum training epochs per model")
    p.add_argument("--patience", type=int, default=50, help="early-stopping patience")
    p.add_argument("--seed", type=int, default=0, help="split and training seed")
    p.add_argument(
        "--output", default=str(HERE / "results" / "coldbrew_inference"), help="write OUTPUT.md and OUTPUT.json"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    torch.set_num_threads(args.threads)
    if data is None:
        data = load_dataset(args.dataset, root=args.root)
    config = ColdBrewConfig(
        conv="sage",
        models=("GNN", "GNN+SE", "GLNN", "ColdBrew"),
        se_layers=(0,),
        epochs=args.epochs,
        patience=args.patience,
    )
    res = {
        "command": "python benchmarks/coldbrew_inference.py " + shlex.join(argv),
        "date_utc": now(),
        "hardware": hardware(),
        "torch": torch.__version__,
        "torch_geometric": __import__("torch_geometric").__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }
    res.update(
        run(
            data,
            config,
            ratio=args.ratio,
            seed=args.seed,
            latency_nodes=args.latency_nodes,
            repeats=args.repeats,
            progress=not args.no_progress,
        )
    )
    out = write_results(args.output, _markdown(res), res)
    print(_markdown(res))
    print(f"wrote {out}.md and {out}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
