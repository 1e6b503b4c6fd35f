"""GRDA benchmark: DG-15, DG-60, TPT-48 E->W and N->S against the paper's numbers (Xu et al., ICLR 2022).

    python benchmarks/grda.py                      # every task, 5 seeds, 1 thread -> benchmarks/results/grda.{json,md}
    python benchmarks/grda.py --tasks dg15 --seeds 2

Runs ``pipelines.adapt`` (same presets as ``graphlearn adapt``) with ``torch.set_num_threads(1)`` and a throw-away
MLflow store (``--tracking-uri`` to keep the runs), then writes the table with the command, hardware and date.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graphlearn.data.grda import load_grda  # noqa: E402
from graphlearn.io import atomic_write_text  # noqa: E402
from pipelines import adapt  # noqa: E402

# Table 1 / Table 2 of the paper (mean target accuracy %, MSE); higher acc / lower MSE is better.
PAPER = {
    "dg15": {"metric": "acc", "grda": 84.44, "dann": 72.11},
    "dg60": {"metric": "acc", "grda": 96.76, "dann": 61.98},
    "tpt48-ew": {"metric": "mse", "grda": 1.297, "dann": 2.679},
    "tpt48-ns": {"metric": "mse", "grda": 1.165, "dann": 2.600},
}
TASKS = tuple(PAPER)


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def run_task(task: str, seeds: int, models: str, tracking_uri: str, extra: list[str]) -> tuple[dict, float]:
    parser = argparse.ArgumentParser()
    adapt.add_arguments(parser)
    args = parser.parse_args(
        [
            "--dataset",
            task,
            "--seeds",
            str(seeds),
            "--models",
            models,
            "--json",
            "--no-progress",
            "--tracking-uri",
            tracking_uri,
            "--experiment",
            "benchmark-grda",
            *extra,
        ]
    )
    start = time.perf_counter()
    results = adapt.run(args)
    return results, time.perf_counter() - start


def verdicts(report: dict) -> list[str]:
    """One line per task: GRDA against the paper's number and against DANN of the same run."""
    lines = []
    for task, entry in report["tasks"].items():
        res, paper = entry["results"]["results"], PAPER[task]
        if "grda" not in res:
            continue
        better = (lambda a, b: a >= b) if paper["metric"] == "acc" else (lambda a, b: a <= b)
        g = res["grda"]["overall"]["mean"]
        parts = [f"GRDA {g:.3f} vs paper {paper['grda']}: {'reached' if better(g, paper['grda']) else 'MISSED'}"]
        if "dann" in res:
            d = res["dann"]["overall"]["mean"]
            parts.append(f"vs DANN {d:.3f} in the same run: {'GRDA better' if better(g, d) else 'DANN better'}")
        lines.append(f"* **{task}**: " + "; ".join(parts))
    return lines


# Measurements behind the discussion (one seed unless stated; hidden 128, spectral embedding, same code as the
# presets with the named change). Kept here so that a rerun of this script keeps the evidence with the table.
NOTES = """
## Why the targets are missed: evidence

The tables above are the benchmark itself. Every other number below was measured with this code on the same data,
1 thread, seed 0 unless stated, during the investigation (DG-15: 200 epochs with a learning-rate half-life of 100
epochs, i.e. the preset before its schedule was compressed to 40; TPT-48: 100 epochs, half-life 40).

**0. What reproduces the paper's DG numbers: target labels in the official batch layout.** The official loader
(`main.py`: `SeqToyDataset(datasets, size=len(datasets[0]))`, `DataLoader(shuffle=True, batch_size=10)`;
`dataset_utils/dataset.py`: `__getitem__` returns `[ds[i] for ds in self.datasets]`) puts position `i` of *every*
domain into one batch slot. The DG pickles store each domain's 50 class-0 samples first, then its 50 class-1 samples
(`dataset_generator.py`), so every pair `(d_i[b], d_j[b])` scored by the official graph discriminator
(`GDA.__loss_D__`) is a same-class pair: the adversary is conditioned on the target labels. `paired_batches=True`
reproduces the layout; everything else is the preset (hidden 128, proper alternation):

| change to the preset | DG-15 GRDA | DG-60 GRDA |
| --- | ---: | ---: |
| none (benchmark above, 5 seeds) | 63.1 +- 1.3 | 36.3 +- 0.4 |
| `paired_batches`, file order (DG-15 seeds 0-2, DG-60 seed 0) | 100.0 +- 0.0 | 84.6 (93.4 at epoch 60) |
| `paired_batches` after a label-free shuffle inside each domain (DG-15 seeds 0-2, DG-60 seed 0) | 64.8 +- 1.9 | 40.9 |

With the same layout, DANN (per-sample domain classifier, no pairs) gives 76.7 and source-only 47.2 on DG-15 (seed 0),
i.e. their usual range. Pairing on a label-free order changes little (64.8 vs 63.1); pairing by label closes the
gap. It reads target labels, so no preset uses it.

**The faithful official configuration** (every official-emulation flag of docs/grda.md: width 512, D of 6 ReLU layers,
N(0, 0.01) init of E/F/D, g_encode, Adam 1e-4/1e-4, 500 epochs with half-life 100, D loss x 15, shared-graph update,
`log(softmax + 1e-4)`, paired batches; lambda 1), DG-15 seed 0, 676 s: GRDA 39.1 (the target accuracy logged every 20
epochs never exceeds 40.0, so neither the last nor the best logged epoch is near 84.4); DANN 50.0 on every domain,
sources included, i.e. one class predicted everywhere (426 s; its domain classifier is frozen at lambda 1 and the
encoder ascends its loss with the same weight as the task loss; the official DANN also applies a ReLU to its
logits, which we do not emulate); source-only 39.2 (315 s), the same as GRDA at lambda 1.
With lambda 0.5 (the value in the DG-15 config's comment and in the DG-60 config; D then trains at half gradient):
GRDA 94.8 (logged every 20 epochs: 74.4-98.6; 748 s); the same after a label-free shuffle inside each domain: 42.4
(628 s). In these runs (one seed each) the official configuration reached the paper's level only when its
discriminator trained and its batches paired same-class samples.
The official `main.py` evaluates target accuracy every 20 epochs and at the last epoch and selects nothing; which epoch
the paper reports is not in the code.
Every run of item 0 (configuration, last-epoch target/source accuracy, accuracy every 20 epochs, per-domain
accuracy) is recorded in `benchmarks/results/grda_official_emulation.jsonl` (`+shuffled` in the tag: samples
permuted inside each domain with a fixed seed before training, labels untouched). A faithful run from the CLI:
`graphlearn adapt --dataset dg15 --models grda --seeds 1 --set hidden=512 --set disc_layers=6 --set epochs=500
--set lr_d=1e-4 --set lr_half_life=100 --set init_std=0.01 --set init_disc=true --set disc_negative_slope=0
--set disc_loss_scale=15 --set official_update=true --set pred_log_eps=1e-4 --set paired_batches=true
--embedding given --lambda 0.5`.

**1. DG-15/DG-60: the label orientation of far targets is not identified by any alignment objective.** Every domain
is two Gaussian blobs at `+-r(theta)` along direction `theta` (r grows from 0.65 to 1.87 on DG-15); the label is the
side. A domain's input distribution is symmetric under swapping the two blobs, so "z distributions aligned" holds
equally when a target's labels come out flipped. Sources cover angles 0.02-1.44 (DG-15) and 0.15-0.66 of a full
circle (DG-60); the DG-15 targets at 2.9 rad look like domain 0 mirrored. Which orientation a far target gets is
decided by how the encoder extrapolates in `u`, not by the adversary's optimum. The per-domain tables above show it:
every method is right near the sources and 0 % on the two farthest DG-15 targets (domains 7 and 1); the methods
differ only in the middle band (angles 2.1-2.5), where DANN's per-sample domain classifier happens to pull more
domains the right way than GRDA's graph discriminator (and in one DANN seed, fewer: 31 %).

**2. The graph discriminator stalls at the `d = 0` saddle.** With `logit = d_i . d_j`, the gradients of D's loss and
of the encoder's adversarial term are both proportional to `d`. In every GRDA run the online D loss sits at
ln 2 = 0.693 from epoch ~10, yet a discriminator trained afterwards on the frozen final `z` (standardised, 1500
steps) reconstructs the graph to loss 0.23 (DANN's z: 0.15; source-only's: 0.26), and a post-hoc domain probe reads
the domain from GRDA's z at 49 % (chance 6.7 %). The game stops, it is not won. Fixes tried (DG-15, seed 0):

| change | GRDA target acc |
| --- | ---: |
| official loss, lambda 1 | 66.7 (seed 1: 64.9) |
| lambda 0.3 / 15 (the official loss is scaled by D = 15) | 67.7 / 68.4 |
| 5 D steps per E step, lambda 15 | 62.6 |
| disc_dim 8 / all 15 domains per subgraph, lambda 15 | 68.9 / 64.2 |
| codes on a sphere, `disc_radius=2` (removes the saddle; D keeps learning), lambda 1 / 5 / 15 / 40 | 65.7 / 62.1 +- 9.8 (3 seeds) / 60.4 / 62.6 |
| BatchNorm on D's input (D reaches 0.48 with lambda 0; adversarial run) | 54.6 (DANN with it: 43.9) |
| official init N(0, 0.01) for every net (D starts at the saddle) | 43.0 (g_encode: 43.6; DANN 73.4) |

A discriminator that keeps learning does not help: more alignment pressure flips more targets, consistent with 1.

**3. The paper's DG numbers come from a run whose discriminator did not train.** The official `__optimize__`
back-propagates `loss_D` and then `loss_E = loss_pred - lambda * loss_D` through the same graph before stepping, so
D's gradient is `(1 - lambda) dL_D/dtheta_D`: zero for DG-15 (lambda 1), halved for DG-60 (0.5); the same holds for
their DANN. Emulating that (D frozen at its N(0, 0.01) init, encoder/predictor N(0, 0.01), g_encode, lambda 1) gives
39.4 % at our width and schedule, and 39.1 % at their width 512 and 5000 steps (item 0), so we cannot attribute
their 84.4 % to a trained adversary.

**4. DG-60**: with `disc_radius=2, lambda 5` (seed 0) GRDA collapses to 50 % on every domain, sources included;
DANN at lambda 5 reaches 36.1. Sources span 0.5 rad of a full circle of 60
domains: the paper's 96.8 % needs the rotation to be extrapolated all the way round, which none of our runs does.

**5. TPT-48: the adaptation signal is mismatched by the protocol, and `u` is extrapolated.** Under the VDI protocol
the sources train on sliding windows of every phase while the targets contribute only Jan-Jun windows, so aligning
the target marginal with the source marginal asks the encoder to confuse phases. Baselines without any network:

| TPT-48 | E -> W | N -> S |
| --- | ---: | ---: |
| ridge on source sliding windows (no domain input) | 0.79 | 3.66 |
| ridge on source Jan-Jun windows only (phase-consistent) | 0.28 | 0.23 |
| mirror (y = reversed x) | 2.44 | 1.94 |
| our source-only network, spectral `u` (benchmark, 5 seeds) | 3.19 | 2.41 |
| the same network with `u` zeroed (seed 0) | 0.81 | - |

The encoder's dependence on the domain embedding is what hurts: the targets' `u` lie outside the sources' range, and
every method feeds `u` to the encoder (as the paper does). The adversaries add harm on top of that: at lambda 1
(the preset) GRDA is worse than DANN on E -> W and better on N -> S (tables above); at lambda 0.1 on N -> S, GRDA 3.59
and DANN 2.93, both still worse than source-only. Lambda cannot be chosen on target labels in unsupervised
adaptation, so we report the paper's lambda = 1. The staged files are VDI's 144 months, not GRDA's (unverified) zip
of 1895-2019, so the paper's TPT-48 numbers are not on the same data either.

**6. Where our DANN stands against the paper's.** Our DANN reaches 66.3 (DG-15) and 43.7 (DG-60) against the
paper's 72.1 and 62.0; on DG-15 four seeds give 73.7-76.3 and one collapses to 31.1. On TPT-48 its MSEs (3.8, 7.5)
are worse than the paper's (2.68, 2.60) for the protocol reasons of item 5.
"""


def markdown(report: dict) -> str:
    lines = [
        "# GRDA benchmark",
        "",
        f"Command: `{report['command'].strip()}` (with `GRAPHLEARN_DATA` pointing at the staged data)  ",
        f"Hardware: {report['hardware']['cpu']}, {report['hardware']['threads']} torch thread(s) "
        f"({report['hardware']['cores']} cores visible, shared)  ",
        f"Date: {report['date']}  ",
        f"torch {report['torch']}",
        "",
        "Target-domain metric, mean ± std over seeds (accuracy in %, higher is better; MSE summed over the 6 "
        "predicted months in standardised units, lower is better). Paper = Xu et al., ICLR 2022, Tables 1-2.",
        "",
        "| task | metric | model | ours (target) | ours (source) | paper | s / run |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for task, entry in report["tasks"].items():
        res = entry["results"]
        for model, groups in res["results"].items():
            o, s = groups["overall"], groups["source"]
            paper = PAPER[task].get(model)
            secs = res.get("extra", {}).get("seconds_per_run", {}).get(model, float("nan"))
            lines.append(
                f"| {task} | {res['metric']} | {model} | {o['mean']:.3f} ± {o['std']:.3f} | "
                f"{s['mean']:.3f} ± {s['std']:.3f} | {'-' if paper is None else paper} | {secs:.0f} |"
            )
    lines += [
        "",
        "Wall time per task (3 models x seeds, sequential; the 2 cores were shared with other jobs, so "
        "seconds are upper bounds): " + ", ".join(f"{t} {e['wall_s']:.0f} s" for t, e in report["tasks"].items()),
        "",
        "## Verdict",
        "",
        *verdicts(report),
    ]
    for task, entry in report["tasks"].items():
        if "angle" not in entry:
            continue
        res = entry["results"]
        order = sorted(entry["angle"], key=entry["angle"].get)
        src = set(res.get("extra", {}).get("source_domains", []))
        targets = [d for d in order if d not in src]
        lines += [
            "",
            f"### {task}: target accuracy per domain (mean over seeds), by hidden angle",
            "",
            "| model | " + " | ".join(f"{d} ({entry['angle'][d]:.2f})" for d in targets) + " |",
            "| --- |" + " ---: |" * len(targets),
        ]
        for model, groups in res["results"].items():
            lines.append(f"| {model} | " + " | ".join(f"{groups[f'domain:{d}']['mean']:.0f}" for d in targets) + " |")
    lines.append(NOTES)
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--models", default="grda,dann,source-only")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tracking-uri", default=None, help="keep the MLflow runs here (default: a temporary store)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "grda"), help="writes OUT.json, OUT.md")
    p.add_argument("--render", action="store_true", help="only rewrite OUT.md from an existing OUT.json")
    p.add_argument("extra", nargs="*", help="passed to pipelines.adapt after --, e.g. -- --epochs 100")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.render:
        report = json.loads(out.with_suffix(".json").read_text())
        for task, entry in report["tasks"].items():
            if task.startswith("dg") and "angle" not in entry:
                ds = load_grda(task)
                entry["angle"] = dict(zip(ds.domain_ids, ds.notes["angle"]))
        _write(out, report)
        return report
    torch.set_num_threads(args.threads)
    tmp = tempfile.mkdtemp(prefix="grda-bench-")
    uri = args.tracking_uri or f"sqlite:///{tmp}/mlflow.db"
    report = {
        "command": "python benchmarks/grda.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "hardware": {"cpu": cpu_model(), "cores": os.cpu_count(), "threads": torch.get_num_threads()},
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "tasks": {},
    }
    for task in args.tasks.split(","):
        results, seconds = run_task(task, args.seeds, args.models, uri, args.extra)
        report["tasks"][task] = {"results": results, "wall_s": seconds, "paper": PAPER[task]}
        if task.startswith("dg"):  # hidden angle of every domain, for the per-domain table
            ds = load_grda(task)
            report["tasks"][task]["angle"] = dict(zip(ds.domain_ids, ds.notes["angle"]))
        print(
            f"{task}: "
            + ", ".join(
                f"{m} {g['overall']['mean']:.3f}±{g['overall']['std']:.3f}" for m, g in results["results"].items()
            )
            + f" ({seconds:.0f}s)",
            flush=True,
        )
    _write(out, report)
    return report


def _write(out: Path, report: dict) -> None:
    """OUT.json and OUT.md, each written atomically (graphlearn.io)."""
    for suffix, text in ((".json", json.dumps(report, indent=2) + "\n"), (".md", markdown(report))):
        atomic_write_text(out.with_suffix(suffix), text)


if __name__ == "__main__":
    main()
