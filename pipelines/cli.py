"""The graphlearn command line: one subcommand per pipeline.

Each pipeline module exposes ``add_arguments(parser)`` and ``run(args)``; results-producing commands return the
shared results JSON (see ``graphlearn.evaluation.results``), which ``--json`` prints instead of the table.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pickle
import signal
import sys
import threading

# subcommand -> (module, one-line help). Modules are imported lazily so `graphlearn datasets` stays fast.
COMMANDS = {
    "datasets": ("pipelines.datasets", "list datasets, their statistics and whether their files are present"),
    "train": ("pipelines.train", "train baselines under the OGB protocol (N seeds, best-validation selection)"),
    "coldbrew": ("pipelines.coldbrew", "Cold Brew: distil a GNN teacher into an MLP student for cold-start nodes"),
    "pretrain": ("pipelines.pretrain", "multi-scale neighbourhood-prediction pretraining (GIANT-XRT style)"),
    "adapt": ("pipelines.adapt", "graph-relational domain adaptation (GRDA) and baselines"),
    "export": ("pipelines.export", "write a Cold Brew run's embeddings, FAISS index and cold-start endpoint"),
    "update": ("pipelines.update", "train a new student compatible with a registered endpoint's index (BCT, NFR)"),
    "serve": ("pipelines.serve", "serve a cold-start endpoint over HTTP (mlflow models serve)"),
    "neighbors": ("pipelines.neighbors", "nearest exported nodes and class of brand-new nodes, from a CSV"),
}


# commands that run under torchrun with several processes (graphlearn.distributed); the others refuse to
DATA_PARALLEL = ("train", "pretrain", "coldbrew")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``graphlearn`` parser. ``only=None``: every subcommand with its arguments (imports every pipeline: tests,
    docs); ``only="<command>"``: that subcommand's arguments only, the others listed with their help (what
    :func:`main` builds, so ``graphlearn --help`` imports no pipeline and ``graphlearn train`` only
    ``pipelines.train``); ``only=""``: no pipeline imported."""
    parser = argparse.ArgumentParser(prog="graphlearn", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is not None and name != only:
            continue
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:  # a pipeline not built yet in this checkout
            if e.name != module:
                raise
            p.set_defaults(_missing=module)
            continue
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _command(argv: list[str]) -> str:
    """The subcommand named in ``argv`` (the first word that is not an option), or ``""``."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else ""
    return ""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=_command(argv))  # imports the chosen pipeline only: `graphlearn --help` stays fast
    args, extra = parser.parse_known_args(argv)
    if extra:  # named by the subcommand (`graphlearn train: error: ...`), as its own argument errors are
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    rank, world_size = _launch()
    if world_size > 1 and args.command not in DATA_PARALLEL:
        print(
            f"graphlearn {args.command}: error: does not run data-parallel; launch it without torchrun (under "
            f"torchrun: {', '.join(DATA_PARALLEL)})",
            file=sys.stderr,
        )
        return 2
    level = logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(
        level=level if rank == 0 else logging.ERROR,  # under torchrun, rank 0 speaks for the job
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # FAISS reports at INFO which CPU build it loads, after two failed imports of the faster builds
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)
        # MLflow's one-off store creation notes ("Creating initial MLflow database tables...")
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    if getattr(args, "_missing", None):
        parser.error(f"command {args.command!r} is not available: module {args._missing} is missing")
    previous = _catch_interrupts() if threading.current_thread() is threading.main_thread() else None
    try:
        args._run(args)
    except KeyboardInterrupt as e:
        # the job's MLflow runs are already marked KILLED (graphlearn.tracking); finished seeds are kept. Under
        # torchrun, a rank that is gone interrupts the others (graphlearn.distributed.PeerLost says which and why)
        why = f": {e}" if type(e).__name__ == "PeerLost" else ""
        print(f"graphlearn {args.command}: interrupted{why}", file=sys.stderr)
        return 130
    except Exception as e:
        return _failed(args, e, rank, world_size)
    finally:
        if previous is not None:
            _restore_interrupts(previous)
    return 0


def _during_interrupt(e: BaseException) -> bool:
    """Whether ``e`` was raised while a KeyboardInterrupt was being handled (its chain of causes holds one)."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__context__ or e.__cause__
    return False


def _failed(args, e: Exception, rank: int, world_size: int) -> int:
    """The exit status and one line for an error ``e`` out of a job; re-raised where a traceback is wanted."""
    if _during_interrupt(e) and not args.verbose:
        # stopping went wrong (a store that refused the KILLED mark): still an interruption, its finished seeds kept
        print(
            f"graphlearn {args.command}: interrupted; then, while stopping: {one_line(e)} (runs left RUNNING are "
            f"marked KILLED by --resume){_rank_note(rank, world_size)}",
            file=sys.stderr,
        )
        return 130
    if isinstance(e, (ValueError, OSError, KeyError, pickle.UnpicklingError)) and not args.verbose:
        # Bad input: one clear line, no traceback (use -v for the traceback).
        print(f"graphlearn {args.command}: error: {one_line(e)}{_rank_note(rank, world_size)}", file=sys.stderr)
        return 2
    # MLflow's refusals (a reserved alias, an invalid registry name, ...) are the user's input too
    if type(e).__name__ != "MlflowException" or args.verbose:
        raise e
    message = one_line(getattr(e, "message", e))
    print(f"graphlearn {args.command}: error: {message}{_rank_note(rank, world_size)}", file=sys.stderr)
    return 2


def _launch() -> tuple[int, int]:
    """``(rank, world size)`` from torchrun's environment; ``(0, 1)`` outside it or when it does not parse
    (``graphlearn.distributed.init`` then says what is wrong)."""
    try:
        return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    except ValueError:
        return 0, 1


def _rank_note(rank: int, world_size: int) -> str:
    """`` (rank R of W)`` after an error line under torchrun with several processes (each rank prints its own)."""
    return f" (rank {rank} of {world_size})" if world_size > 1 else ""


def one_line(error) -> str:
    """An error message on one line: a multi-line one (a list of missing files, PyTorch's state-dict report) is
    joined with ``; `` so that the last line of stderr is the whole error."""
    return "; ".join(line.strip() for line in str(error).splitlines() if line.strip())


# code an interrupt must not land in: SQLAlchemy (MLflow's database stores) between a statement and its cursor's end.
# A KeyboardInterrupt raised while a SELECT's rows are read leaves that cursor open, referenced by the traceback, and
# its SQLite read lock held, so the KILLED mark that follows waits 20 s and fails "database is locked" (seen in CI on
# tests/pipelines/test_resume.py): the job then ended as an error (exit 2) instead of an interruption (130)
_STORE_CODE = (f"{os.sep}sqlalchemy{os.sep}", f"{os.sep}mlflow{os.sep}store{os.sep}db{os.sep}", "sqlalchemy_store.py")
_pending: list[int] = []  # the signal a store call deferred, delivered by SIGALRM once the call is over
_DEFER_S = 0.01


def _in_store_call(frame) -> bool:
    """Whether ``frame`` (where a signal's handler interrupted the program) is inside a database store call."""
    while frame is not None:
        name = frame.f_code.co_filename
        if any(part in name for part in _STORE_CODE):
            return True
        frame = frame.f_back
    return False


def _interrupt(signum, frame):
    """SIGTERM (a scheduler stopping the job) and Ctrl-C are turned into KeyboardInterrupt, raised outside database
    store calls: one that arrives inside one is delivered 10 ms later (SIGALRM), and again until the call is over,
    so an interrupted job can still mark its runs KILLED. One that arrives while an interruption is being handled is
    ignored, so that the job's runs are still marked KILLED: under torchrun, a rank that has just lost its peer
    (graphlearn.distributed.PeerLost) is sent SIGTERM by torchrun a moment later."""
    if isinstance(sys.exc_info()[1], KeyboardInterrupt):
        return
    if signum != signal.SIGALRM and not _pending:
        _pending.append(signum)
    if _in_store_call(frame):
        signal.setitimer(signal.ITIMER_REAL, _DEFER_S)
        return
    signum = _pending.pop() if _pending else signum
    raise KeyboardInterrupt(f"signal {signum}")


def _redeliver(unraisable):
    """``sys.unraisablehook`` while a job runs. A signal that arrives while Python runs a weakref callback or a
    ``__del__`` raises its KeyboardInterrupt there, and Python drops it, so the job ran on to the end (seen in
    tests/pipelines/test_resume.py under load). It is delivered again 10 ms later (SIGALRM), out of that callback."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        return
    sys.__unraisablehook__(unraisable)


def _catch_interrupts() -> tuple:
    """Install the job's interrupt handling (SIGTERM as Ctrl-C, neither inside a store call, dropped interrupts
    delivered again); returns what :func:`_restore_interrupts` puts back."""
    term, alarm = signal.signal(signal.SIGTERM, _interrupt), signal.signal(signal.SIGALRM, _interrupt)
    previous = (term, alarm, signal.signal(signal.SIGINT, _interrupt), sys.unraisablehook)
    _pending.clear()
    sys.unraisablehook = _redeliver
    return previous


def _restore_interrupts(previous: tuple) -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)
    term, alarm, ctrl_c, hook = previous
    _pending.clear()
    signal.signal(signal.SIGTERM, term)
    signal.signal(signal.SIGALRM, alarm)
    signal.signal(signal.SIGINT, ctrl_c)
    sys.unraisablehook = hook


if __name__ == "__main__":
    sys.exit(main())
