"""Which exported vectors let a recommender find a cold-start node's true neighbours?

Under the Cold Brew protocol an isolated node's removed edges are its true neighbours. For every space, each
isolated node is queried with its own exported vector against the index of every node's exported vector (itself
excluded; exact cosine search), and we measure recall@10 of its removed neighbours and same-class precision@10.

Spaces (graphlearn.export.spaces): the student's ``retrieval`` space (its opt-in retrieval head, trained with
``retrieval_dim=256``: graphlearn.methods.coldbrew.retrieval), its ``coldbrew`` space (teacher embedding for nodes
with edges, MLP1's estimate for the rest: what ``graphlearn export`` writes by default), its ``mlp1`` space (MLP1
for every node), the teacher's embeddings as the student stored them (isolated nodes: the teacher with no edge), the
raw features, the raw features as the retrieval head reads them (``view``: its validation-chosen feature view,
e.g. word presence weighted by idf, with no learning), GIANT features (``graphlearn pretrain`` with the cold-start
isolated nodes' edges held out), and the last hidden layer of the MLP and GLNN baselines. All trained in the same
job on the same split (``ColdStartSplit(seed=0)``, shared by every seed so that GIANT's held-out edges
are the evaluated ones); seeds vary the models.

    python benchmarks/export_retrieval.py --datasets cora,citeseer,amazon-photo,coauthor-cs --runs 5
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from _common import hardware, now, run_cli, write_results

SPACES = ("retrieval", "coldbrew", "mlp1", "teacher", "raw", "view", "giant", "mlp", "glnn")
REFERENCE = "retrieval"  # the student's best space


def vectors(space: str, trained: dict, x: torch.Tensor, giant_x: torch.Tensor | None) -> np.ndarray:
    from graphlearn.export.spaces import as_numpy, hidden_vectors, normalize, student_vectors

    student = trained["ColdBrew"]
    if space in ("coldbrew", "mlp1", "retrieval"):
        return as_numpy(student_vectors(student, x, space))
    if space == "teacher":
        with torch.no_grad():
            return as_numpy(normalize(student._standardise(student.teacher_embeddings)))
    if space in ("raw", "view"):  # raw: the features as given; view: as the retrieval head reads them (no learning)
        from graphlearn import sparse

        rows = student.retrieval.features(sparse.model_input(x)) if space == "view" else x
        rows = sparse.normalize_rows_as_dense(rows)
        return as_numpy(rows.to_dense() if sparse.is_sparse(rows) else rows)
    if space == "giant":
        return as_numpy(normalize(giant_x))
    return as_numpy(hidden_vectors(trained["MLP" if space == "mlp" else "GLNN"], x))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="cora,citeseer,amazon-photo,coauthor-cs")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default="benchmarks/results/export_retrieval")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from graphlearn.data.protocols import apply_protocol
    from graphlearn.evaluation import summarize
    from graphlearn.evaluation.retrieval import retrieval_scores, true_neighbors
    from graphlearn.methods.coldbrew import ColdBrewConfig, run_coldbrew
    from pipelines import _common
    from pipelines.features import resolve_features

    # retrieval_dim: the student's opt-in retrieval head (the "retrieval" space); it changes no other number
    config = ColdBrewConfig(models=("GNN", "GNN+SE", "MLP", "GLNN", "ColdBrew"), retrieval_dim=256)
    record = {
        "command": "python benchmarks/export_retrieval.py " + " ".join(argv or __import__("sys").argv[1:]),
        "hardware": hardware(),
        "date": now(),
        "threads": args.threads,
        "k": args.k,
        "config": config.to_dict(),
        "datasets": {},
    }

    def write() -> None:
        lines = [
            "# Exported embeddings: retrieval for cold-start nodes\n",
            f"- command: `{record['command']}`",
            f"- hardware: {record['hardware']}, {args.threads} torch thread(s); date: {record['date']}",
            f"- queries: every isolated node of `ColdStartSplit(seed=0)` (shared by all seeds), its own exported "
            f"vector; index: every node's exported vector (itself excluded), exact cosine search; recall@{args.k} "
            f"of its removed edges' endpoints, same-class precision@{args.k}; mean ± std over seeds (the models' "
            "seeds; GIANT pretrained once, seed 0, the isolated nodes' edges held out)",
            "- Cold Brew default config plus `retrieval_dim=256` (the opt-in retrieval head: `retrieval` space; "
            "no other number changes); `coldbrew` is what `graphlearn export` writes by default\n",
        ]
        for dataset, rec in record["datasets"].items():
            lines += [
                f"## {dataset}\n",
                f"{rec['isolated']} isolated query nodes, {rec['with_truth']} of them with removed edges; "
                f"{rec['seconds']:.0f} s\n",
                f"| space | recall@{args.k} | precision@{args.k} | recall − {REFERENCE} (paired) | "
                f"precision − {REFERENCE} (paired) |",
                "|---|---:|---:|---:|---:|",
            ]
            for space in SPACES:
                s = rec["summary"].get(space)
                if not s:
                    continue
                d = rec["paired"].get(space)
                diff = (
                    (f"{d['recall']['mean']:+.2f} ± {d['recall']['std']:.2f}", f"{d['precision']['mean']:+.2f} ± "
                     f"{d['precision']['std']:.2f}")
                    if d else ("", "")
                )  # fmt: skip
                lines.append(
                    f"| {space} | {s['recall']['mean']:.2f} ± {s['recall']['std']:.2f} | "
                    f"{s['precision']['mean']:.2f} ± {s['precision']['std']:.2f} | {diff[0]} | {diff[1]} |"
                )
            lines.append("")
        write_results(args.output, "\n".join(lines) + "\n", record)

    for dataset in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        t0 = time.perf_counter()
        ns = argparse.Namespace(
            dataset=dataset, data_root=None, split=0, seed=0, feature_norm="auto", features=None, threads=args.threads
        )
        data = _common.load_data(ns)
        split = apply_protocol(data, "coldstart", 0, 0)
        pre, _ = run_cli(["pretrain", "--dataset", dataset, "--json", "--no-progress", "--threads", str(args.threads)])
        giant_x = resolve_features(f"pretrained:{pre['run_id']}", data).x
        iso = split.isolated_mask.nonzero().view(-1).numpy()
        truth = true_neighbors(data.edge_index.numpy(), iso)
        y = data.y.numpy()
        per_seed: dict[str, list] = {s: [] for s in SPACES}
        retrieval_fit: list[dict] = []  # the head's validation choices per seed (mix, best step, val scores)
        for r in range(args.runs):
            out = run_coldbrew(split, config, seed=r)
            for space in SPACES:
                v = vectors(space, out["trained"], split.x, giant_x)
                score = retrieval_scores(v[iso], v, truth, y[iso], y, k=args.k, exclude=iso)
                per_seed[space].append(score.to_dict())
            retrieval_fit.append({k: v for k, v in out.get("retrieval", {}).items() if k != "history"})
            print(dataset, r, {s: round(per_seed[s][-1]["recall"], 2) for s in SPACES}, flush=True)
        summary = {s: {m: summarize([p[m] for p in v]) for m in ("recall", "precision")} for s, v in per_seed.items()}
        paired = {
            s: {
                m: summarize([p[m] - q[m] for p, q in zip(per_seed[s], per_seed[REFERENCE])])
                for m in ("recall", "precision")
            }
            for s in SPACES
            if s != REFERENCE
        }
        record["datasets"][dataset] = {
            "isolated": int(len(iso)),
            "with_truth": int(sum(len(t) > 0 for t in truth)),
            "giant_run": pre["run_id"],
            "per_seed": per_seed,
            "retrieval_fit": retrieval_fit,
            "summary": summary,
            "paired": paired,
            "seconds": time.perf_counter() - t0,
        }
        write()
    print(json.dumps({d: r["summary"] for d, r in record["datasets"].items()}, indent=1)[:3000])


if __name__ == "__main__":
    main()
