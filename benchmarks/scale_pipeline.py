"""The large-graph pipeline, stage by stage, from 10k to 2M synthetic nodes: time and peak memory per stage.

For every size ``N`` (``synthetic:N``, the DC-SBM generator: 64 Gaussian features, 5 classes, average degree 10),
one fresh process runs, on ``--threads`` torch threads:

* ``load``: generate the graph (what ``--dataset synthetic:N`` does);
* ``split``: the Cold Brew protocol's ``ColdStartSplit`` (10 % isolated, their edges removed);
* ``propagate``: SIGN's precomputed propagation ``[X, ÂX, Â²X]`` (the graph's only use by the teacher);
* ``teacher``: SIGN trained on the propagated features (``run_protocol``, one seed), its logits and last hidden
  layer (the teacher embeddings) for every node;
* ``student``: the Cold Brew student (``ColdBrewStudent``, features query, cosine) fitted on those embeddings, then
  every node predicted from its features alone;
* ``glnn``: GLNN distilled from the teacher's logits;
* ``export``: the student's MLP1 vectors of every node written in chunks (``graphlearn.export.store``: NumPy, Parquet,
  ids, metadata) with an exact FAISS index.

Peak memory per stage is the process's peak resident set during that stage (Linux ``VmHWM``, reset before each
stage through ``/proc/self/clear_refs``). Accuracy of the teacher and the student on isolated test nodes is printed
as a sanity check (the graph is synthetic).

    python benchmarks/scale_pipeline.py --sizes 10000,30000,100000              # the quick tier (make bench)
    python benchmarks/scale_pipeline.py --sizes 10000,100000,1000000,2000000 --output benchmarks/results/scale_full
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _common import hardware, now, status_kb, write_results  # noqa: E402

STAGES = ("load", "split", "propagate", "teacher", "student", "glnn", "export")


class Stages:
    """Times each stage and records its peak RSS (VmHWM reset at the stage's start)."""

    def __init__(self):
        self.out: dict[str, dict] = {}

    def run(self, name: str, fn, **extra):
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # resets VmHWM to the current RSS
        except OSError:
            pass
        t0 = time.perf_counter()
        result = fn()
        self.out[name] = {
            "seconds": time.perf_counter() - t0,
            "peak_mb": status_kb("VmHWM") / 1024,
            "rss_after_mb": status_kb("VmRSS") / 1024,
            **extra,
        }
        print(f"  {name}: {self.out[name]['seconds']:.1f} s, peak {self.out[name]['peak_mb']:.0f} MB", flush=True)
        return result


def one_size(n: int, args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from graphlearn.data.protocols import apply_protocol
    from graphlearn.data.registry import load_dataset
    from graphlearn.data.splits import node_degree
    from graphlearn.evaluation import run_protocol
    from graphlearn.export.spaces import as_numpy, query_vectors
    from graphlearn.export.store import write_export
    from graphlearn.methods.coldbrew import ColdBrewStudent
    from graphlearn.methods.coldbrew.glnn import train_glnn
    from graphlearn.models import build_model

    st = Stages()
    batching = {"batch_size": args.batch_size, "full_batch_rows": args.full_batch_rows}
    data = st.run("load", lambda: load_dataset(f"synthetic:{n}"))
    split = st.run("split", lambda: apply_protocol(data, "coldstart", 0, 0))
    data = None  # the split holds what is needed
    x, y = split.x, split.y
    c = int(y.max()) + 1
    sign = build_model("sign", x.size(1), args.hidden, c, num_layers=2, dropout=0.5, K=2)
    xp = st.run("propagate", lambda: sign.preprocess(x, split.edge_index))

    class Propagated(torch.nn.Module):  # SIGN on features propagated once above (run_protocol would redo it)
        row_independent = True  # rows are independent once propagated: mini-batches apply

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def reset_parameters(self):
            self.inner.reset_parameters()

        def forward(self, h, edge_index=None):
            return self.inner(h)

    def teacher():
        res = run_protocol(
            Propagated(sign), split.clone().update({"x": xp}), runs=1, epochs=args.epochs, patience=args.patience,
            progress=False, keep_models=True, **batching,
        )  # fmt: skip
        wrapper = Propagated(sign)
        wrapper.load_state_dict(res.models[0])  # the best-validation epoch
        model = wrapper.inner
        model.eval()
        with torch.no_grad():
            return res, model(xp), model.embed(xp)

    res, t_logits, t_emb = st.run("teacher", teacher)
    xp = None  # noqa: F841 (frees the propagated features before the student)
    iso_test = split.isolated_mask & split.test_mask
    cand = node_degree(split.edge_index, split.num_nodes) > 0
    held = {"emb": t_emb}  # the student keeps its own copy: this one is dropped once it is fitted
    t_emb = None  # noqa: F841

    def student():
        emb = held.pop("emb")
        s = ColdBrewStudent(x.size(1), emb.size(1), c, hidden_channels=args.hidden, k=5, metric="cos",
                            query="features")  # fmt: skip
        fit = s.fit(
            x, y, emb, train_mask=split.train_mask, val_mask=split.val_mask, candidate_mask=cand,
            teacher_logits=t_logits, kd_weight=10.0, epochs=args.epochs, patience=args.patience, **batching,
        )  # fmt: skip
        emb = None  # noqa: F841
        pred = s.logits(x, self_index=torch.arange(split.num_nodes)).argmax(-1)
        s._drop_search_space()  # the remembered search of every node ([N, embed]): later stages do not search
        return s, fit, pred

    s, fit, pred = st.run("student", student)
    st.out["student"]["epochs"] = {k: v.epochs_run for k, v in fit.items() if hasattr(v, "epochs_run")}
    st.out["student"]["isolated_test_acc"] = 100.0 * float((pred[iso_test] == y[iso_test]).float().mean())
    st.out["teacher"]["isolated_test_acc"] = 100.0 * float(
        (t_logits.argmax(-1)[iso_test] == y[iso_test]).float().mean()
    )
    st.out["teacher"]["epochs"] = len(res.curves[0])
    _, glnn_fit = st.run(
        "glnn",
        lambda: train_glnn(
            x, y, t_logits, train_mask=split.train_mask, val_mask=split.val_mask, num_classes=c,
            hidden_channels=args.hidden, epochs=args.epochs, patience=args.patience, **batching,
        ),
    )  # fmt: skip
    st.out["glnn"]["epochs"] = getattr(glnn_fit, "epochs_run", None)

    def export():
        with tempfile.TemporaryDirectory() as tmp:
            chunk = args.chunk

            def chunks():
                for i in range(0, split.num_nodes, chunk):
                    yield as_numpy(query_vectors(s, x[i : i + chunk], "mlp1")), "mlp1"

            folder = write_export(Path(tmp) / "export", chunks(), num_nodes=split.num_nodes, dim=s.embed_channels)
            return sum(f.stat().st_size for f in folder.iterdir()) / 2**20

    size = st.run("export", export)
    st.out["export"]["disk_mb"] = size
    return {
        "nodes": n,
        "edges": int(split.edge_index.size(1)),
        "stages": st.out,
        "peak_mb": max(v["peak_mb"] for v in st.out.values()),  # the process's peak: the largest stage's
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,30000,100000", help="comma-separated node counts")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=200, help="maximum epochs of every model (default 200)")
    p.add_argument("--patience", type=int, default=50)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=4096, help="mini-batch rows of feature-only models (0: off)")
    p.add_argument("--full-batch-rows", type=int, default=32768, help="train full batch up to this many rows")
    p.add_argument("--chunk", type=int, default=65536, help="export chunk, nodes")
    p.add_argument("--output", default="benchmarks/results/scale_pipeline")
    p.add_argument("--note", default="", help="a line for the results file (e.g. what else ran on the machine)")
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # child process: one size, JSON out
    args = p.parse_args(argv)
    if args.one is not None:
        print("RESULT " + json.dumps(one_size(args.one, args)), flush=True)
        return
    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    command = "python benchmarks/scale_pipeline.py " + " ".join(argv if argv is not None else sys.argv[1:])
    record = {
        "command": command, "hardware": hardware(), "date": now(), "threads": args.threads, "note": args.note,
        "sizes": [],
    }  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    for n in sizes:
        print(f"synthetic:{n}", flush=True)
        t0 = time.perf_counter()
        child = [sys.executable, __file__, "--one", str(n), "--threads", str(args.threads), "--epochs",
                 str(args.epochs), "--patience", str(args.patience), "--hidden", str(args.hidden), "--chunk",
                 str(args.chunk), "--batch-size", str(args.batch_size), "--full-batch-rows",
                 str(args.full_batch_rows)]  # fmt: skip
        proc = subprocess.run(child, env=env, capture_output=True, text=True)
        sys.stdout.write("".join(line + "\n" for line in proc.stdout.splitlines() if not line.startswith("RESULT ")))
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode or not lines:
            record["sizes"].append({"nodes": n, "failed": proc.stderr.strip().splitlines()[-1:] or ["no output"]})
            print(proc.stderr[-2000:], file=sys.stderr)
        else:
            out = json.loads(lines[-1][len("RESULT ") :])
            out["wall_seconds"] = time.perf_counter() - t0
            record["sizes"].append(out)
        write_results(args.output, _markdown(record), record)


def _markdown(record: dict) -> str:
    lines = [
        "# The large-graph pipeline: time and peak memory per stage\n",
        f"- command: `{record['command']}`",
        f"- hardware: {record['hardware']}, {record['threads']} torch thread(s); date: {record['date']}",
        "- stages and settings: `benchmarks/scale_pipeline.py` docstring; one fresh process per size; peak = the "
        "stage's peak RSS (VmHWM reset at its start)\n",
        "| nodes | edges | " + " | ".join(f"{s} s / MB" for s in STAGES) + " | total s | peak MB | student iso acc |",
        "|---:|---:|" + "---:|" * (len(STAGES) + 3),
    ]
    for r in record["sizes"]:
        if "failed" in r:
            lines.append(f"| {r['nodes']:,} | failed: {r['failed'][0]} |")
            continue
        cells = [f"{r['stages'][s]['seconds']:.1f} / {r['stages'][s]['peak_mb']:.0f}" for s in STAGES]
        total = sum(r["stages"][s]["seconds"] for s in STAGES)
        lines.append(
            f"| {r['nodes']:,} | {r['edges']:,} | " + " | ".join(cells) + f" | {total:.0f} | {r['peak_mb']:.0f} | "
            f"{r['stages']['student']['isolated_test_acc']:.1f} |"
        )
    done = [r for r in record["sizes"] if "failed" not in r]
    if done:
        lines += [
            "",
            "Epochs run (early stopping on validation, at most `--epochs`) and seconds per epoch of the trained stages "
            "(the student's time includes its virtual-neighbour search):",
            "",
            "| nodes | teacher epochs | s / epoch | student MLP1 + MLP2 epochs | s / epoch | GLNN epochs | s / epoch |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in done:
            st = r["stages"]
            te, ge = st["teacher"].get("epochs") or 0, st["glnn"].get("epochs") or 0
            se = sum((st["student"].get("epochs") or {}).values())
            per = [
                st[k]["seconds"] / e if e else float("nan") for k, e in (("teacher", te), ("student", se), ("glnn", ge))
            ]
            lines.append(f"| {r['nodes']:,} | {te} | {per[0]:.3f} | {se} | {per[1]:.3f} | {ge} | {per[2]:.3f} |")
    if record.get("note"):
        lines += ["", record["note"]]
    if len(done) >= 2:
        a, b = done[0], done[-1]
        ta = sum(a["stages"][s]["seconds"] for s in STAGES)
        tb = sum(b["stages"][s]["seconds"] for s in STAGES)
        lines += [
            "",
            f"Cost from {a['nodes']:,} to {b['nodes']:,} nodes: edges x{b['edges'] / a['edges']:.1f}, time "
            f"x{tb / ta:.1f}, peak memory x{b['peak_mb'] / a['peak_mb']:.1f}.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
