"""Peak memory of one Cold Brew job, attributed to where it happens (benchmarks/results/coldbrew_memory_<d>.md).

    python benchmarks/coldbrew_memory.py --dataset coauthor-cs
    python benchmarks/coldbrew_memory.py --dataset coauthor-cs -- --protocols coldstart   # extra coldbrew flags

Runs ``graphlearn coldbrew --dataset <d> --runs 1 --json --fresh`` in this process (the issue's measurement: one seed,
both protocols, the default flags) while a sampler thread reads the process's resident set size every 50 ms together
with the innermost ``graphlearn`` frame of the main thread. The results file lists the peak RSS, the frame it was
reached in, and the highest RSS seen inside each graphlearn function (the top 15), so that a memory target can be
checked and its cause named in one run.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import hardware, now, run_cli, write_results  # noqa: E402

PERIOD_S = 0.05


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _where(frame) -> str:
    """The innermost frame in graphlearn's own code (library or pipelines), as ``module:function``."""
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name.startswith(("graphlearn", "pipelines")):
            return f"{name}:{frame.f_code.co_name}"
        frame = frame.f_back
    return "(outside graphlearn)"


class Sampler(threading.Thread):
    def __init__(self, main_ident: int):
        super().__init__(daemon=True)
        self.main, self.stop, self.peak, self.peak_at, self.by_fn = main_ident, threading.Event(), 0, "", {}

    def run(self) -> None:
        while not self.stop.is_set():
            rss = _rss()
            where = _where(sys._current_frames().get(self.main))
            self.by_fn[where] = max(self.by_fn.get(where, 0), rss)
            if rss > self.peak:
                self.peak, self.peak_at = rss, where
            time.sleep(PERIOD_S)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="coauthor-cs")
    p.add_argument("--output", default=None, help="results stem (default: benchmarks/results/coldbrew_memory_<d>)")
    p.add_argument("extra", nargs="*", help="further `graphlearn coldbrew` flags, after --")
    args = p.parse_args(argv)
    cli = ["coldbrew", "--dataset", args.dataset, "--runs", "1", "--json", "--fresh", "--no-progress", *args.extra]
    sampler = Sampler(threading.main_thread().ident)
    start = _rss()
    sampler.start()
    _, seconds = run_cli(cli)
    sampler.stop.set()
    sampler.join()
    top = sorted(sampler.by_fn.items(), key=lambda kv: -kv[1])[:15]
    res = {
        "command": "python benchmarks/coldbrew_memory.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "job": "graphlearn " + " ".join(cli),
        "hardware": hardware(),
        "date": now(),
        "seconds": round(seconds, 1),
        "rss_start_mb": round(start / 2**20),
        "peak_rss_mb": round(sampler.peak / 2**20),
        "peak_at": sampler.peak_at,
        "by_function_mb": {k: round(v / 2**20) for k, v in top},
    }
    lines = [
        f"# Peak memory of one Cold Brew job: {args.dataset}",
        "",
        f"- command: `{res['command']}`",
        f"- job: `{res['job']}` (in-process)",
        f"- hardware: {res['hardware']}",
        f"- date: {res['date']}",
        f"- wall time: {res['seconds']} s; RSS before the job {res['rss_start_mb']} MB",
        f"- **peak RSS {res['peak_rss_mb']} MB**, reached in `{res['peak_at']}`",
        "",
        "| innermost graphlearn function | highest RSS seen there (MB) |",
        "|---|---:|",
        *(f"| `{k}` | {v} |" for k, v in res["by_function_mb"].items()),
        "",
    ]
    stem = args.output or str(HERE / "results" / f"coldbrew_memory_{args.dataset}")
    out = write_results(stem, "\n".join(lines), res)
    print("\n".join(lines))
    print(f"wrote {out}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
