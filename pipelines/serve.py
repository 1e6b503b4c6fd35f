"""``graphlearn serve``: the cold-start endpoint over HTTP (MLflow's scoring server, ``mlflow models serve``).

    graphlearn serve --model models:/graphlearn-cora-student@champion --port 5000
    curl -s -X POST http://127.0.0.1:5000/invocations -H 'Content-Type: application/json' \\
         -d '{"inputs": [[0, 1, 0, ...]], "params": {"k": 5}}'

It runs ``mlflow models serve --env-manager local`` from this environment, with the job's tracking store (so
``models:/`` URIs resolve without setting ``MLFLOW_TRACKING_URI``) and this environment's ``bin`` on ``PATH`` (the
server needs ``uvicorn``). A bad request gets HTTP 400 with one message naming the problem.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from graphlearn import tracking
from pipelines import _common


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, help="models:/<name>@<alias>, models:/<name>/<version> or runs:/...")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=_common.port, default=5000, help="port (default 5000)")
    parser.add_argument("--workers", type=_common.positive_int, default=1, help="server worker processes")
    _common.add_serving_arguments(parser, threads_help="torch / FAISS threads per worker")


def serve_command(args) -> tuple[list[str], dict[str, str]]:
    """The ``mlflow models serve`` command line and environment for ``args``."""
    uri = tracking.configure(args.tracking_uri)
    tracking.check_model(args.model)
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["MLFLOW_TRACKING_URI"] = uri
    env["GRAPHLEARN_THREADS"] = str(_common.job_threads(args))
    cmd = [
        os.path.join(bindir, "mlflow"),
        "models",
        "serve",
        "-m",
        args.model,
        "--env-manager",
        "local",
        "-h",
        args.host,
        "-p",
        str(args.port),
        "-w",
        str(args.workers),
    ]
    return cmd, env


def run(args) -> None:
    cmd, env = serve_command(args)
    print(f"serving {args.model} on http://{args.host}:{args.port}/invocations (Ctrl-C stops)", flush=True)
    os.execve(cmd[0], cmd, env)


if __name__ == "__main__":
    _common.script_main("serve")
