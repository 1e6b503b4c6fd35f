"""Row-partitioned propagation (``graphlearn.distributed.RowPartition``): time and memory per rank, 1 vs 2 processes.

For each size ``N`` (``synthetic:N``: 64 Gaussian features, average degree 10) and each world size, ``torchrun``
starts that many processes on this machine (gloo on 127.0.0.1, ``--threads`` torch threads each). Every rank loads
the graph, then SIGN's propagation ``[X, ÂX, ..., Â^K X]`` runs row-partitioned (``propagate_rows``): the rank
builds its row block of the operator, exchanges its halo rows once per hop and keeps only its rows of every hop.
With one process it is SIGN's own single-process propagation. Per rank: seconds, the propagation stage's peak
resident memory above what the rank held before it (Linux ``VmHWM`` reset through ``/proc/self/clear_refs``), the
block's non-zeros, the halo rows received per hop and the bytes of its propagated rows. With 2 ranks the script also
checks the hops against the one-process result (max absolute difference, on rank 0 after gathering).

    python benchmarks/partitioned_propagation.py --sizes 100000,1000000 --worlds 1,2 --chunks 0,16
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _common import hardware, now, status_kb, write_results  # noqa: E402


def worker(n: int, hops: int, chunk: int, out: str) -> None:
    import torch

    from graphlearn import distributed
    from graphlearn.data.registry import load_dataset

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    data = load_dataset(f"synthetic:{n}")
    x, edge_index = data.x, data.edge_index
    with distributed.session() as ctx:
        ctx.loss_value(torch.zeros(()))  # every rank has loaded the graph
        before = status_kb("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            pass
        t0 = time.perf_counter()
        if ctx.parallel:
            part = distributed.RowPartition(edge_index, n, ctx, "gcn", dtype=x.dtype)
            local = [x[part.rows].contiguous()]
            for _ in range(hops):
                local.append(part.matmul(local[-1], chunk or None))
            nnz, halo, rows = int(part.operator.values().numel()), sum(part.recv_counts), part.rows
        else:
            from graphlearn.models.sign import propagate

            local = propagate(x, edge_index, hops)
            nnz, halo, rows = int(edge_index.size(1) + n), 0, slice(0, n)
        seconds = time.perf_counter() - t0
        peak = status_kb("VmHWM")
        record = {
            "rank": ctx.rank,
            "world": ctx.world_size,
            "chunk": chunk or None,
            "rows": rows.stop - rows.start,
            "seconds": seconds,
            "stage_peak_mb": (peak - before) / 1024,
            "rss_before_mb": before / 1024,
            "operator_nnz": nnz,
            "halo_rows": halo,
            "hops_mb": sum(h.numel() * h.element_size() for h in local) / 2**20,
        }
        if ctx.parallel:  # gathered on every rank (a check, after the measurement), compared on rank 0
            gathered = [ctx.gather_rows(h, n) for h in local]
            if ctx.is_main:
                from graphlearn.models.sign import propagate

                ref = propagate(x, edge_index, hops)
                record["max_abs_diff_vs_one_process"] = max(float((a - b).abs().max()) for a, b in zip(gathered, ref))
        Path(out, f"rank{ctx.rank}.json").write_text(json.dumps(record))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100000,1000000", help="comma-separated node counts")
    p.add_argument("--worlds", default="1,2", help="comma-separated process counts")
    p.add_argument("--hops", type=int, default=2, help="SIGN's K (default 2, as the scale pipeline's teacher)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--output", default="benchmarks/results/partitioned_propagation")
    p.add_argument("--note", default="", help="a line for the results file (e.g. what else ran on the machine)")
    p.add_argument(
        "--chunks", default="0,16", help="feature columns per halo exchange to try with several processes (0: all)"
    )
    p.add_argument("--worker", nargs=4, metavar=("N", "HOPS", "CHUNK", "DIR"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(int(args.worker[0]), int(args.worker[1]), int(args.worker[2]), args.worker[3])
        return
    command = "python benchmarks/partitioned_propagation.py " + " ".join(argv if argv is not None else sys.argv[1:])
    rows = []
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    for n in [int(float(s)) for s in args.sizes.split(",") if s.strip()]:
        chunks = [int(c) for c in args.chunks.split(",") if c.strip()]
        for world, chunk in [(w, c) for w in map(int, args.worlds.split(",")) for c in (chunks if w > 1 else [0])]:
            with tempfile.TemporaryDirectory() as tmp:
                launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(world),
                            "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{_port()}"]  # fmt: skip
                t0 = time.perf_counter()
                job = [*launcher, __file__, "--worker", str(n), str(args.hops), str(chunk), tmp]
                subprocess.run(job, env=env, check=True)
                wall = time.perf_counter() - t0
                ranks = [json.loads(Path(tmp, f"rank{r}.json").read_text()) for r in range(world)]
            rows.append({"nodes": n, "world": world, "chunk": chunk or None, "wall_s": wall, "ranks": ranks})
            print(json.dumps(rows[-1]), flush=True)
    lines = [
        "# Row-partitioned propagation: time and memory per rank",
        "",
        f"- command: `{command}`",
        f"- hardware: {hardware()}, {args.threads} torch thread(s) per process; date: {now()}",
        "- what: SIGN's propagation of `synthetic:N` (64 features, K = "
        f"{args.hops}) in one process, and row-partitioned over the ranks of a torchrun job on this machine "
        "(`graphlearn.distributed.RowPartition`: each rank's row block of the operator, its halo rows exchanged by "
        "all_to_all each hop); stage peak = the rank's peak RSS during propagation above its RSS before it",
        *([f"- note: {args.note}"] if args.note else []),
        "",
        "| nodes | processes | columns per exchange | rank | rows | operator nnz | halo rows / hop | seconds | "
        "stage peak MB | hops MB | max abs diff vs 1 process |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        for r in row["ranks"]:
            diff = r.get("max_abs_diff_vs_one_process")
            lines.append(
                f"| {row['nodes']:,} | {row['world']} | {row.get('chunk') or 'all'} | {r['rank']} | {r['rows']:,} | "
                f"{r['operator_nnz']:,} | {r['halo_rows']:,} | {r['seconds']:.2f} | {r['stage_peak_mb']:.0f} | "
                f"{r['hops_mb']:.0f} | {'' if diff is None else f'{diff:.1e}'} |"
            )
    path = write_results(args.output, "\n".join(lines) + "\n", {"command": command, "hardware": hardware(),
                                                                  "date": now(), "rows": rows})  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
