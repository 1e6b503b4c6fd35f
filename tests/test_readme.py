"""Every `graphlearn` command in the README's code blocks and inline examples parses with the real CLI (flags and
values exist as written); the README's example script runs its `--help`."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands() -> list[str]:
    text = README.read_text()
    found = []
    for line in text.splitlines():
        for m in re.finditer(r"\.venv/bin/graphlearn ([^`#\n]+)", line):
            cmd = m.group(1).strip()
            if "<" not in cmd and "..." not in cmd:  # placeholders (<run id>) are prose, not commands
                found.append(cmd)
    return found


COMMANDS = _commands()


def test_the_readme_has_commands():
    assert {c.split()[0] for c in COMMANDS} >= {"datasets", "train", "export", "serve", "neighbors", "update"}


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_parses(command):
    parser = build_parser()
    try:
        parser.parse_args(shlex.split(command))
    except SystemExit as e:  # argparse exits 2 on an unknown flag or a bad value
        raise AssertionError(f"README command does not parse: graphlearn {command}") from e


def test_readme_example_scripts_exist():
    for script in re.findall(r"\.venv/bin/python (examples/\S+\.py)", README.read_text()):
        path = README.parent / script
        assert path.is_file(), script
        out = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-500:]
