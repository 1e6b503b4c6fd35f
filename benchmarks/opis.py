"""Threshold consistency (OPIS) of the exported embedding spaces; writes benchmarks/results/opis.{md,json}.

    python benchmarks/opis.py                                  # cora,citeseer, 5 seeds, TCM weights 0.1,1,10
    python benchmarks/opis.py --datasets cora --runs 2 --tcm-weights ""

For each seed: the dataset (row-normalised features, as ``graphlearn coldbrew``), the cold-start split of that
seed (``apply_protocol(data, "coldstart", seed)``), ``run_coldbrew`` with GNN, GNN+SE, MLP, GLNN and the student,
then OPIS (``graphlearn.evaluation.threshold``: Zhang et al., ICLR 2024; range = thresholds of overall FAR 10 % to
1 %) of every exported space (``graphlearn.export.spaces``) on the test nodes and on the isolated test nodes:
the student's ``coldbrew`` and ``mlp1`` spaces, the MLP's and GLNN's last hidden layer, and the raw features.

With ``--tcm-weights``, the student is retrained with the opt-in threshold-consistent margin regulariser on MLP1
(``mlp1_tcm_weight``) at each weight; the weights are judged on validation only (student accuracy, OPIS of the
``mlp1`` space on the validation nodes); test numbers are reported beside them for information.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import numpy as np
import torch
from _common import HERE, hardware, now, write_results

from graphlearn.data import load_dataset
from graphlearn.data.protocols import apply_protocol
from graphlearn.evaluation.threshold import DEFAULT_FAR_RANGE, threshold_consistency
from graphlearn.export.spaces import hidden_vectors, normalize, student_vectors
from graphlearn.methods.coldbrew import ColdBrewConfig, run_coldbrew

MODELS = ("GNN", "GNN+SE", "MLP", "GLNN", "ColdBrew")
SPACES = ("ColdBrew coldbrew", "ColdBrew mlp1", "MLP hidden", "GLNN hidden", "raw features")
SUBSETS = ("test", "isolated")
# Each space's accuracy column: the model whose vectors these are.
ACC_OF = {"ColdBrew coldbrew": "ColdBrew", "ColdBrew mlp1": "ColdBrew", "MLP hidden": "MLP", "GLNN hidden": "GLNN"}


def load(name: str):
    from torch_geometric.transforms import NormalizeFeatures  # noqa: PLC0415

    return NormalizeFeatures()(copy.copy(load_dataset(name, seed=0)))


def spaces_of(trained, x: torch.Tensor, rows: torch.Tensor) -> dict[str, torch.Tensor]:
    """The exported vectors of the nodes ``rows`` in every space."""
    student, xs = trained["ColdBrew"], x[rows]
    return {
        "ColdBrew coldbrew": student_vectors(student, xs, "coldbrew", rows=rows),
        "ColdBrew mlp1": student_vectors(student, xs, "mlp1", rows=rows),
        "MLP hidden": hidden_vectors(trained["MLP"], xs),
        "GLNN hidden": hidden_vectors(trained["GLNN"], xs),
        "raw features": normalize(xs),
    }


def subsets(split) -> dict[str, torch.Tensor]:
    return {
        "test": split.test_mask.nonzero().view(-1),
        "isolated": (split.test_mask & split.isolated_mask).nonzero().view(-1),
    }


def mean_std(values) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0, "n": int(a.size)}


def cell(ms: dict, scale: float = 1.0, digits: int = 2) -> str:
    return f"{ms['mean'] * scale:.{digits}f} ± {ms['std'] * scale:.{digits}f}"


def one_seed(data, seed: int, tcm_weights: list[float], max_pairs: int) -> dict:
    split = apply_protocol(data, "coldstart", seed)
    t0 = time.perf_counter()
    out = run_coldbrew(split, ColdBrewConfig(models=MODELS), seed=seed)
    y = split.y
    rec: dict = {"seed": seed, "train_seconds": round(time.perf_counter() - t0, 1), "opis": {}, "detail": {}}
    rec["acc"] = {m: {g: out["models"][m]["acc"].get(g) for g in ("overall", "isolated")} for m in MODELS}
    rec["val_acc"] = {m: out["models"][m]["val_acc"] for m in MODELS}
    rec["student_teacher"] = out["student_teacher"]
    for subset, rows in subsets(split).items():
        rec["opis"][subset], rec["detail"][subset] = {}, {}
        for space, vec in spaces_of(out["trained"], split.x, rows).items():
            r = threshold_consistency(vec, y[rows], max_pairs=max_pairs, seed=seed)
            rec["opis"][subset][space] = r.opis
            rec["detail"][subset][space] = r.to_dict()

    val = split.val_mask.nonzero().view(-1)

    def student_scores(o) -> dict:
        s = o["trained"]["ColdBrew"]
        xs = split.x
        return {
            "val_acc": o["models"]["ColdBrew"]["val_acc"],
            "val_opis_mlp1": threshold_consistency(
                student_vectors(s, xs[val], "mlp1", rows=val), y[val], max_pairs=max_pairs, seed=seed
            ).opis,
            "test_acc": o["models"]["ColdBrew"]["acc"]["overall"],
            "isolated_acc": o["models"]["ColdBrew"]["acc"].get("isolated"),
            "test_opis": {
                f"{subset} {space}": threshold_consistency(
                    student_vectors(s, xs[rows], space, rows=rows), y[rows], max_pairs=max_pairs, seed=seed
                ).opis
                for subset, rows in subsets(split).items()
                for space in ("coldbrew", "mlp1")
            },
        }

    rec["tcm"] = {"0": student_scores(out)}
    for w in tcm_weights:
        cfg = ColdBrewConfig(models=("GNN", "GNN+SE", "ColdBrew"), mlp1_tcm_weight=w)
        rec["tcm"][f"{w:g}"] = student_scores(run_coldbrew(split, cfg, seed=seed))
    return rec


def summarise(records: list[dict]) -> dict:
    s: dict = {"opis": {}, "per_class": {}, "acc": {}, "tcm": {}}
    for subset in SUBSETS:
        s["opis"][subset] = {sp: mean_std([r["opis"][subset][sp] for r in records]) for sp in SPACES}
        s["per_class"][subset] = {}
        for sp in SPACES:
            classes = records[0]["detail"][subset][sp]["per_class"]
            s["per_class"][subset][sp] = {
                c: {
                    k: float(np.mean([r["detail"][subset][sp]["per_class"].get(c, {}).get(k, np.nan) for r in records]))
                    for k in ("tar", "far")
                }
                for c in classes
            }
    s["overall_tar"] = {
        subset: {sp: mean_std([r["detail"][subset][sp]["overall_tar"] for r in records]) for sp in SPACES}
        for subset in SUBSETS
    }
    for m in MODELS:
        s["acc"][m] = {g: mean_std([r["acc"][m][g] for r in records]) for g in ("overall", "isolated")}
    for w in records[0]["tcm"]:
        rows = [r["tcm"][w] for r in records]
        s["tcm"][w] = {
            k: mean_std([x[k] for x in rows]) for k in ("val_acc", "val_opis_mlp1", "test_acc", "isolated_acc")
        }
        s["tcm"][w].update({k: mean_std([x["test_opis"][k] for x in rows]) for k in rows[0]["test_opis"]})
    return s


def markdown(dataset: str, s: dict, records: list[dict], seconds: float) -> str:
    sampled = any(d["sampled"] for r in records for sub in r["detail"].values() for d in sub.values())
    pairs = "some pair sets sampled (max_pairs)" if sampled else "every pair of the nodes scored (none sampled)"
    seeds = ", ".join(str(r["seed"]) for r in records)
    lines = [f"## {dataset}\n", f"{len(records)} seeds ({seeds}), {seconds:.0f} s; {pairs}.\n"]
    lines.append(
        "OPIS × 10³ (mean ± std over seeds; lower = one cosine threshold behaves more alike across classes) and the "
        "accuracy (%) of the model whose vectors they are; TAR test = true-accept rate of all same-class pairs, "
        "mean over the range (how much a threshold in the range still accepts: a space whose classes are all "
        "equally poorly separated also has a low OPIS):\n"
    )
    lines.append("| space | OPIS test | OPIS isolated test | TAR test | acc. test | acc. isolated |")
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for sp in SPACES:
        acc = s["acc"].get(ACC_OF.get(sp, ""), None)
        a_t, a_i = (cell(acc["overall"]), cell(acc["isolated"])) if acc else ("–", "–")
        lines.append(
            f"| {sp} | {cell(s['opis']['test'][sp], 1e3)} | {cell(s['opis']['isolated'][sp], 1e3)} | "
            f"{cell(s['overall_tar']['test'][sp])} | {a_t} | {a_i} |"
        )
    ranges = {sp: records[0]["detail"]["test"][sp]["threshold_range"] for sp in SPACES}
    lines.append(
        "\nCalibration ranges (seed 0, test): "
        + "; ".join(f"{sp} [{lo:.3f}, {hi:.3f}]" for sp, (lo, hi) in ranges.items())
        + ".\n"
    )
    classes = list(s["per_class"]["test"][SPACES[0]])
    lines.append("Per-class TAR / FAR on the test nodes (each the mean over the calibration range, then over seeds):\n")
    lines.append("| space | " + " | ".join(f"class {c}" for c in classes) + " |")
    lines.append("| --- |" + " --- |" * len(classes))
    for sp in SPACES:
        pc = s["per_class"]["test"][sp]
        cells = [f"{pc[c]['tar']:.2f} / {pc[c]['far']:.3f}" if c in pc else "–" for c in classes]
        lines.append(f"| {sp} | " + " | ".join(cells) + " |")
    if len(s["tcm"]) > 1:
        lines.append(
            "\nOpt-in TCM regulariser on MLP1 (`mlp1_tcm_weight`; 0 = the default student). Chosen on validation: "
            "student accuracy and OPIS × 10³ of the `mlp1` space on the validation nodes; test columns for "
            "information only:\n"
        )
        lines.append(
            "| weight | val acc. | val OPIS mlp1 | test acc. | isolated acc. | test OPIS coldbrew | test OPIS mlp1 "
            "| isolated OPIS mlp1 |"
        )
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for w, t in s["tcm"].items():
            lines.append(
                f"| {w} | {cell(t['val_acc'])} | {cell(t['val_opis_mlp1'], 1e3)} | {cell(t['test_acc'])} | "
                f"{cell(t['isolated_acc'])} | {cell(t['test coldbrew'], 1e3)} | {cell(t['test mlp1'], 1e3)} | "
                f"{cell(t['isolated mlp1'], 1e3)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="cora,citeseer")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tcm-weights", default="0.1,1,10", help="comma-separated mlp1_tcm_weight values ('' for none)")
    p.add_argument("--max-pairs", type=int, default=2_000_000)
    p.add_argument("--output", default=str(HERE / "results" / "opis"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    weights = [float(w) for w in args.tcm_weights.split(",") if w.strip()]

    command = f"python benchmarks/opis.py {' '.join(sys.argv[1:] if argv is None else argv)}".strip()
    header = (
        "# Threshold consistency (OPIS) of the exported embedding spaces\n\n"
        f"- command: `{command}`\n- machine: 2-core CPU ({hardware()}), {args.threads} torch thread(s)\n"
        f"- date: {now()}\n"
        f"- protocol: cold-start split per seed (`apply_protocol(data, 'coldstart', seed)`), row-normalised "
        f"features, `run_coldbrew` with `ColdBrewConfig(models={MODELS})`; OPIS as in Zhang et al., ICLR 2024 "
        f"(`graphlearn/evaluation/threshold.py`: per-class utility = F1 of TAR and 1 - FAR over pairs of that class, "
        f"OPIS = mean over the range of the across-class variance of the utility; range = the thresholds where the "
        f"overall FAR runs from {DEFAULT_FAR_RANGE[1]:g} to {DEFAULT_FAR_RANGE[0]:g}, 101 points, per space)\n\n"
    )
    sections, obj = [], {"date": now(), "hardware": hardware(), "machine": "2-core CPU", "command": command}
    obj["datasets"] = {}
    for dataset in args.datasets.split(","):
        data = load(dataset)
        t0 = time.perf_counter()
        records = []
        for seed in range(args.runs):
            records.append(one_seed(data, seed, weights, args.max_pairs))
            print(f"{dataset} seed {seed}: {records[-1]['opis']['test']}", flush=True)
        seconds = time.perf_counter() - t0
        summary = summarise(records)
        sections.append(markdown(dataset, summary, records, seconds))
        obj["datasets"][dataset] = {"seconds": round(seconds, 1), "summary": summary, "runs": records}
        print(sections[-1], flush=True)
        write_results(args.output, header + "\n".join(sections), obj)
    print(f"wrote {args.output}.md")


if __name__ == "__main__":
    main()
