"""The large-graph pipeline's cost curve: every committed ``scale_pipeline`` size in one table and one plot.

Reads the JSON records that ``benchmarks/scale_pipeline.py`` writes (the quick tier and the full-tier sizes, each run
on its own), and writes ``OUTPUT.md`` (one row per size, with the run it came from), ``OUTPUT.json`` and ``OUTPUT.png``
(time and peak memory against edges, log-log), with the exponent ``b`` of a least-squares fit ``cost = a * edges^b``
over the sizes that train in mini-batches (``--fit-from`` nodes and up): ``b`` close to 1 is cost linear in edges.

    python benchmarks/scale_curve.py   # the committed records: scale_pipeline, scale_full_1m, scale_full_2m
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import write_results  # noqa: E402

STAGES = ("load", "split", "propagate", "teacher", "student", "glnn", "export")
DEFAULT_INPUTS = ("scale_pipeline", "scale_full_1m", "scale_full_2m")


def load_sizes(paths: list[Path]) -> list[dict]:
    """One row per size that completed, from every record (a later record replaces an earlier one's size)."""
    rows: dict[int, dict] = {}
    for path in paths:
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise SystemExit(f"scale_curve: cannot read {path}: {err}") from None
        if not isinstance(record, dict) or not isinstance(record.get("sizes"), list):
            raise SystemExit(f"scale_curve: {path} is not a scale_pipeline record (no 'sizes' list)")
        for size in record["sizes"]:
            if "failed" in size:
                continue
            total = sum(size["stages"][s]["seconds"] for s in STAGES)
            rows[size["nodes"]] = {
                "nodes": size["nodes"],
                "edges": size["edges"],
                "seconds": total,
                "peak_mb": size["peak_mb"],
                "stages": {s: size["stages"][s]["seconds"] for s in STAGES},
                "source": path.name,
                "date": record.get("date", ""),
                "threads": record.get("threads"),
            }
    return [rows[n] for n in sorted(rows)]


def exponent(xs: list[float], ys: list[float]) -> float | None:
    """``b`` of the least-squares line through ``(log x, log y)``; ``None`` for fewer than two points."""
    if len(xs) < 2:
        return None
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def _plot(rows: list[dict], path: Path, fit_from: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.array([r["edges"] for r in rows], dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((axes[0], "seconds", "total seconds"), (axes[1], "peak_mb", "peak RSS, MB")):
        ys = np.array([r[key] for r in rows], dtype=float)
        ax.loglog(edges, ys, "o-", label="measured")
        fit = [i for i, r in enumerate(rows) if r["nodes"] >= fit_from]
        if len(fit) >= 2:
            ref = fit[0]
            line = ys[ref] * edges[fit] / edges[ref]
            ax.loglog(edges[fit], line, "--", color="grey", label=f"linear in edges from {rows[ref]['nodes']:,} nodes")
        for r, y in zip(rows, ys):
            ax.annotate(f"{r['nodes'] / 1e3:,.0f}k", (r["edges"], y), textcoords="offset points", xytext=(4, -10))
        ax.set_xlabel("directed edges")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("scale_pipeline: the whole pipeline per size (one thread)")
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    os.replace(tmp, path)  # never a half-written plot


def _markdown(rows: list[dict], fit_from: int, slopes: dict, command: str, png: str) -> str:
    lines = [
        "# The large-graph pipeline: the cost curve\n",
        f"- command: `{command}`",
        "- one row per size, from the record named in the last column (`benchmarks/scale_pipeline.py`, one fresh "
        "process per size; the per-stage tables and each run's hardware and load are in those files)",
        f"- plot: `{png}`\n",
        "| nodes | edges | " + " | ".join(f"{s} s" for s in STAGES) + " | total s | peak MB | s per M edges | record |",
        "|---:|---:|" + "---:|" * (len(STAGES) + 3) + "---|",
    ]
    for r in rows:
        cells = " | ".join(f"{r['stages'][s]:.1f}" for s in STAGES)
        lines.append(
            f"| {r['nodes']:,} | {r['edges']:,} | {cells} | {r['seconds']:.0f} | {r['peak_mb']:.0f} | "
            f"{r['seconds'] / (r['edges'] / 1e6):.0f} | {r['source']} ({r['date']}) |"
        )
    lines.append("")
    for key, what in (("seconds", "time"), ("peak_mb", "peak memory")):
        b = slopes[key]
        lines.append(
            f"- {what} ~ edges^b from {fit_from:,} nodes on: "
            + (f"b = {b:.2f}" if b is not None else "fewer than two sizes, no fit")
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--inputs",
        default=",".join(str(HERE / "results" / f"{name}.json") for name in DEFAULT_INPUTS),
        help="comma-separated scale_pipeline JSON records; missing default records are skipped",
    )
    p.add_argument("--fit-from", type=int, default=100_000, help="fit the exponent on sizes from this many nodes")
    p.add_argument("--output", default=str(HERE / "results" / "scale_curve"))
    args = p.parse_args(argv)
    given = [Path(s) for s in args.inputs.split(",") if s.strip()]
    defaults = argv is None or "--inputs" not in argv
    paths = [path for path in given if path.exists() or not defaults]
    if not paths:
        raise SystemExit(f"scale_curve: none of {[str(g) for g in given]} exists")
    rows = load_sizes(paths)
    if not rows:
        raise SystemExit("scale_curve: the records hold no completed size")
    fit = [r for r in rows if r["nodes"] >= args.fit_from]
    slopes = {key: exponent([r["edges"] for r in fit], [r[key] for r in fit]) for key in ("seconds", "peak_mb")}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.with_suffix(".png")
    _plot(rows, png, args.fit_from)
    command = "python benchmarks/scale_curve.py " + " ".join(argv if argv is not None else sys.argv[1:])
    record = {"command": command.strip(), "fit_from": args.fit_from, "exponents": slopes, "sizes": rows}
    write_results(str(out), _markdown(rows, args.fit_from, slopes, record["command"], png.name), record)
    print(_markdown(rows, args.fit_from, slopes, record["command"], png.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
