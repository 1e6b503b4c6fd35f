"""The README's `graphlearn` commands run, in README order, on the staged data, after a short stand-in for `make demo`
(one seed, few epochs); `train` gets 2 seeds and 5 epochs instead of the README's 10 seeds. `serve` is a server:
tests/test_readme.py parses it and tests/pipelines/test_export.py serves the same model. (The README's Python snippet
runs in tests/pipelines/test_export.py.) A command that needs an optional extra (neighbour sampling) runs where the
extra is installed and elsewhere must stop with the instruction that installs it."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch_geometric.typing as pyg_typing

from pipelines.cli import main
from tests.test_readme import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
SHORTER = {"train": ["--runs", "2", "--epochs", "5"]}  # appended: argparse keeps the last value of a flag
SERVERS = ("serve",)
# flags of an optional extra: without it the command must stop with the instruction that installs it
OPTIONAL = {"--num-neighbors": ("make sampling", pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE)}


@pytest.mark.needs_data
@pytest.mark.slow
def test_readme_commands_run_in_order(workdir, shared_data, monkeypatch, capsys):
    monkeypatch.setenv("GRAPHLEARN_DATA", str(shared_data))
    # `make demo`'s job, shortened: the coldbrew run the README's export / neighbors / update commands start from
    demo = ["coldbrew", "--dataset", "cora", "--runs", "1", "--set", "epochs=5", "--no-sage"]
    assert main([*demo, "--protocols", "coldstart", "--no-progress"]) == 0
    ran = []
    for command in COMMANDS:
        argv = shlex.split(command)
        if argv[0] in SERVERS:
            continue
        if "new_nodes.csv" in argv:  # the README writes it with examples/new_nodes.py just before
            env = dict(os.environ, PYTHONPATH=str(ROOT))
            script = [sys.executable, str(ROOT / "examples" / "new_nodes.py"), "--dataset", "cora", "--nodes", "3"]
            subprocess.run([*script, "--out", "new_nodes.csv"], check=True, cwd=workdir, env=env)
        capsys.readouterr()
        rc = main([*argv, *SHORTER.get(argv[0], [])])
        err = capsys.readouterr().err
        missing = [how for flag, (how, installed) in OPTIONAL.items() if flag in argv and not installed]
        if missing:  # e.g. neighbour sampling without its backend: one line naming `make sampling`
            assert rc == 2 and all(how in err for how in missing) and "Traceback" not in err, err[-2000:]
            continue
        assert rc == 0, f"`graphlearn {command}` exited {rc}: {err[-2000:]}"
        ran.append(argv[0])
    assert {"datasets", "train", "export", "neighbors", "update"} <= set(ran)
