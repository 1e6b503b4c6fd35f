"""A team tracking server on this machine: PostgreSQL as MLflow's backend store, ``mlflow server`` in front of it.

``python -m graphlearn.tracking.server start|stop|status [--root DIR] [--port P] [--pg-port P]`` (``make
tracking-server`` / ``make tracking-server-stop``). Everything lives in the state folder ``--root`` (default
``./tracking-server``): the PostgreSQL cluster (``pgdata/``), the artifact root (``artifacts/``, served through the
server, so clients need no shared filesystem), ``logs/`` and ``server.json`` (ports and process ids). Jobs log to it
with ``MLFLOW_TRACKING_URI=http://127.0.0.1:<port>``; without that variable they keep the embedded SQLite store.

PostgreSQL listens on 127.0.0.1 only, with no unix socket (no clash with a system cluster), and password
(scram-sha-256) authentication for the one role ``graphlearn``, whose generated password is in
``<root>/postgres.password`` (mode 0600): a local development server, not a hardened deployment. PostgreSQL
refuses to run as root, so under root the cluster runs as the ``postgres`` system user (created when missing).
When PostgreSQL is not installed and we are root on a machine with ``apt-get``, ``apt-get install -y postgresql``
installs it (said on stderr).

Errors (a port in use, PostgreSQL missing, a server that does not come up) are one line naming the problem and the
value; a failed start stops what it started and removes a cluster it created.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"
DEFAULT_ROOT = "tracking-server"
DEFAULT_PORT = 5000
DEFAULT_PG_PORT = 5433
DB_NAME, DB_USER = "mlflow", "graphlearn"
PG_SYSTEM_USER = "postgres"
PG_TOOLS = ("initdb", "pg_ctl", "postgres", "createdb")
PG_SEARCH = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/opt/homebrew/opt/postgresql@*/bin")
INSTALL_HINT = (
    "install it (Debian/Ubuntu: `sudo apt-get install postgresql`; Fedora: `sudo dnf install postgresql-server`; "
    "macOS: `brew install postgresql`) or put its bin folder (with initdb and pg_ctl) on PATH"
)


class ServerError(Exception):
    """A one-line reason why the server could not be started, stopped or reached."""


# ------------------------------------------------------------------ layout and state
class Layout:
    """The state folder's paths."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.pgdata = self.root / "pgdata"
        self.artifacts = self.root / "artifacts"
        self.logs = self.root / "logs"
        self.pg_log = self.logs / "postgres.log"
        self.mlflow_log = self.logs / "mlflow.log"
        self.password = self.root / "postgres.password"
        self.state = self.root / "server.json"
        self.lock = self.root / ".lock"

    def read_state(self) -> dict:
        try:
            return json.loads(self.state.read_text())
        except (OSError, ValueError):
            return {}

    def write_state(self, state: dict) -> None:
        tmp = self.state.with_name(self.state.name + ".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self.state)

    def postmaster_pid(self) -> int | None:
        """The running postmaster's pid from ``pgdata/postmaster.pid`` (``None`` when there is none or it is gone)."""
        try:
            pid = int(self.pgdata.joinpath("postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None


def uri_of(port: int) -> str:
    return f"http://{HOST}:{port}"


# ------------------------------------------------------------------ processes and ports
def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (state is field 0, pgrp 2, starttime 19)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, which an init that does not reap leaves behind, counts as gone)."""
    stat = _proc_stat(pid)
    if stat is not None:
        return stat[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not Path("/proc").is_dir()  # /proc exists but had no entry: gone


def start_time(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return stat[19] if stat else None


def group_pids(pgid: int) -> list[int]:
    """Live processes of the process group ``pgid``."""
    if not Path("/proc").is_dir():  # no /proc (macOS): ask the kernel whether any member is left
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat and stat[2] == str(pgid) and stat[0] not in ("Z", "X"):
                out.append(int(entry))
    return out


def _signal_until_gone(alive, send, steps) -> None:
    """For each ``(signal, seconds)`` of ``steps`` while ``alive()``: ``send(signal)``, then wait up to that long."""
    for sig, wait in steps:
        if not alive():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            send(sig)
        deadline = time.monotonic() + wait
        while alive() and time.monotonic() < deadline:
            time.sleep(0.1)


def kill_group(pgid: int, grace: float = 15.0) -> None:
    """SIGTERM the process group ``pgid``, SIGKILL what is left after ``grace`` seconds, wait until it is gone."""
    steps = ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0))
    _signal_until_gone(lambda: bool(group_pids(pgid)), lambda sig: os.killpg(pgid, sig), steps)
    if group_pids(pgid):
        raise ServerError(f"processes {group_pids(pgid)} of the MLflow server (process group {pgid}) survived SIGKILL")


def port_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _check_port(port: int, what: str, flag: str) -> None:
    if not 1 <= port <= 65535:
        raise ServerError(f"{what} port {port} is not a TCP port (1-65535); pass {flag} <port>")
    if not port_free(port):
        raise ServerError(
            f"{what} port {port} on {HOST} is already in use; stop what holds it or pass {flag} <free port>"
        )


def _check_driver() -> None:
    import importlib.util  # noqa: PLC0415

    if importlib.util.find_spec("psycopg2") is None:
        raise ServerError(
            f"MLflow's PostgreSQL driver psycopg2 is not installed in {sys.prefix}; pip install 'graphlearn[server]' "
            "(or psycopg2-binary)"
        )


def _preflight(port: int, pg_port: int) -> None:
    _check_driver()
    _check_port(pg_port, "PostgreSQL", "--pg-port")
    _check_port(port, "MLflow server", "--port")


def _tail(path: Path, lines: int = 4) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return f"(no log at {path})"
    return " | ".join(line.strip() for line in text[-lines:] if line.strip()) or f"({path} is empty)"


# ------------------------------------------------------------------ PostgreSQL
def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _has_tools(folder: Path) -> bool:
    return all((folder / tool).is_file() and os.access(folder / tool, os.X_OK) for tool in PG_TOOLS)


def _version_key(folder: str) -> tuple:
    return tuple(int(n) for n in re.findall(r"\d+", folder)) or (0,)


def postgres_candidates() -> list[Path]:
    """Folders that may hold PostgreSQL's server programs: ``pg_ctl``'s on PATH (links resolved: Debian's
    /usr/bin has only wrappers), then the distributions' versioned folders, newest first."""
    found = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        found += [Path(on_path).parent, Path(on_path).resolve().parent]
    for pattern in PG_SEARCH:
        found += [Path(p) for p in sorted(glob.glob(pattern), key=_version_key, reverse=True)]
    return list(dict.fromkeys(found))


def find_postgres(install: bool = True, candidates=postgres_candidates) -> Path:
    """The folder with initdb, pg_ctl, postgres and createdb. When there is none and we are root with apt-get (and
    ``install``), ``apt-get install -y postgresql`` first (and ``apt-get update`` when the lists are stale)."""
    for folder in candidates():
        if _has_tools(folder):
            return folder
    apt = shutil.which("apt-get")
    if install and apt and _is_root():
        print(
            "tracking server: PostgreSQL not found; installing it: apt-get install -y postgresql",
            file=sys.stderr,
            flush=True,
        )
        # apt's output goes to our stderr (fd 2): stdout carries the URI alone
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = [apt, "install", "-y", "-q", "--no-install-recommends", "postgresql"]
        ok = subprocess.run(cmd, env=env, stdout=2, stderr=2).returncode == 0
        if not ok:  # a fresh machine has no package lists yet
            print("tracking server: apt-get install failed; running apt-get update and retrying", file=sys.stderr)
            subprocess.run([apt, "update", "-q"], env=env, stdout=2, stderr=2)
            ok = subprocess.run(cmd, env=env, stdout=2, stderr=2).returncode == 0
        if not ok:
            raise ServerError(f"PostgreSQL is not installed and `apt-get install -y postgresql` failed; {INSTALL_HINT}")
        for folder in candidates():
            if _has_tools(folder):
                return folder
        raise ServerError(f"apt-get installed postgresql but no folder has {', '.join(PG_TOOLS)}; {INSTALL_HINT}")
    looked = ", ".join(["PATH", *PG_SEARCH])
    raise ServerError(f"PostgreSQL not found (looked for {', '.join(PG_TOOLS)} in {looked}); {INSTALL_HINT}")


def _ensure_pg_user() -> None:
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
        return
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if not useradd:
        raise ServerError(f"running as root needs a {PG_SYSTEM_USER!r} system user to run PostgreSQL; create it")
    print(f"tracking server: creating the system user {PG_SYSTEM_USER!r} (PostgreSQL refuses root)", file=sys.stderr)
    cmd = [useradd, "--system", "--user-group", "--no-create-home", "--shell", "/bin/sh", PG_SYSTEM_USER]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ServerError(f"useradd {PG_SYSTEM_USER} failed: {proc.stderr.strip() or proc.returncode}")


def _as_pg(cmd: list[str]) -> list[str]:
    """``cmd`` as the ``postgres`` user when we are root (PostgreSQL refuses to run as root)."""
    if not _is_root():
        return cmd
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", PG_SYSTEM_USER, "--", *cmd]
    return ["su", PG_SYSTEM_USER, "-s", "/bin/sh", "-c", shlex.join(cmd)]


def _run_pg(cmd: list[str], what: str, env: dict | None = None, log: Path | None = None, timeout: float = 120):
    """Run a PostgreSQL program (as ``postgres`` under root); a ``ServerError`` with its output's last lines."""
    try:
        proc = subprocess.run(
            _as_pg(cmd),
            capture_output=True,
            text=True,
            cwd="/",  # the postgres user may not enter the caller's folder
            env={**os.environ, **(env or {})},
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise ServerError(f"{what} did not finish in {timeout:.0f} s" + (f": {_tail(log)}" if log else "")) from None
    if proc.returncode != 0:
        output = " | ".join(line.strip() for line in (proc.stderr + proc.stdout).strip().splitlines()[-6:])
        raise ServerError(
            f"{what} failed (exit {proc.returncode}): {output or 'no output'}"
            + (f"; log {log}: {_tail(log)}" if log else "")
        )
    return proc


def _chown_pg(*paths: Path) -> None:
    if _is_root():
        entry = pwd.getpwnam(PG_SYSTEM_USER)
        for path in paths:
            os.chown(path, entry.pw_uid, entry.pw_gid)


def _check_reachable(layout: Layout) -> None:
    """Under root the cluster runs as ``postgres``, which must be able to enter every folder above ``pgdata``."""
    if not _is_root():
        return
    probe = subprocess.run(_as_pg(["test", "-w", str(layout.pgdata), "-a", "-x", str(layout.pgdata)]), cwd="/")
    if probe.returncode != 0:
        raise ServerError(
            f"the {PG_SYSTEM_USER!r} user that runs PostgreSQL (it refuses root) cannot enter {layout.root} (a "
            "folder above it is closed to other users); pass --root <a folder others may enter>, e.g. /srv/tracking"
        )


def _init_cluster(layout: Layout, bindir: Path) -> None:
    """A new cluster in ``pgdata``: role ``graphlearn`` with a generated password, listening on 127.0.0.1 only."""
    layout.pgdata.mkdir(mode=0o700)
    _chown_pg(layout.pgdata)
    _check_reachable(layout)
    password = secrets.token_urlsafe(24)
    old = os.umask(0o077)
    try:
        layout.password.write_text(password + "\n")
        pwfile = layout.logs / ".initdb-password"
        pwfile.write_text(password + "\n")
    finally:
        os.umask(old)
    try:
        _chown_pg(pwfile)
        _run_pg(
            [str(bindir / "initdb"), "-D", str(layout.pgdata), "-U", DB_USER, f"--pwfile={pwfile}"]
            + ["--auth=scram-sha-256", "-E", "UTF8", "--no-locale"],
            "initdb",
        )
    finally:
        pwfile.unlink(missing_ok=True)
    with open(layout.pgdata / "postgresql.conf", "a") as conf:
        conf.write(
            "\n# graphlearn tracking server: TCP on 127.0.0.1 only, no unix socket (no clash with a system cluster)\n"
            f"listen_addresses = '{HOST}'\nunix_socket_directories = ''\n"
        )


def _pg_env(layout: Layout) -> dict:
    return {"PGPASSWORD": layout.password.read_text().strip()}


def _start_postgres(layout: Layout, bindir: Path, pg_port: int) -> int:
    layout.pg_log.touch()
    _chown_pg(layout.pg_log)
    cmd = [str(bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(layout.pgdata), "-l", str(layout.pg_log)]
    _run_pg([*cmd, "-o", f"-p {pg_port}"], f"PostgreSQL (pg_ctl start on port {pg_port})", log=layout.pg_log)
    pid = layout.postmaster_pid()
    if pid is None:
        raise ServerError(f"PostgreSQL did not stay up on port {pg_port}: {_tail(layout.pg_log)}")
    return pid


def _stop_postgres(layout: Layout, bindir: Path | None) -> bool:
    """``pg_ctl stop -m fast``; signals the postmaster directly when pg_ctl is gone or fails. True if one ran."""
    pid = layout.postmaster_pid()
    if pid is None:
        return False
    if bindir is not None:
        with contextlib.suppress(ServerError):
            _run_pg(
                [str(bindir / "pg_ctl"), "stop", "-m", "fast", "-w", "-t", "60", "-D", str(layout.pgdata)],
                "pg_ctl stop",
            )
    steps = ((signal.SIGINT, 30.0), (signal.SIGQUIT, 10.0))  # SIGINT is PostgreSQL's fast shutdown
    _signal_until_gone(lambda: pid_alive(pid), lambda sig: os.kill(pid, sig), steps)
    if pid_alive(pid):
        raise ServerError(f"PostgreSQL (pid {pid}, data {layout.pgdata}) did not stop")
    return True


# ------------------------------------------------------------------ MLflow
def _mlflow_command(layout: Layout, port: int, pg_port: int, workers: int) -> list[str]:
    store = f"postgresql+psycopg2://{DB_USER}@{HOST}:{pg_port}/{DB_NAME}"  # the password goes in PGPASSWORD, not argv
    return [
        *(sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store),
        *("--serve-artifacts", "--artifacts-destination", str(layout.artifacts)),
        *("--host", HOST, "--port", str(port), "--workers", str(workers)),
    ]


def _mlflow_env(layout: Layout) -> dict:
    # MLflow's server-side job runner (GenAI evaluation jobs: eight more processes) is off unless asked for
    return {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ, **_pg_env(layout)}


def _wait_healthy(uri: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    """Until ``<uri>/health`` answers 200; a ``ServerError`` with the log's last lines if the server exits first or
    ``timeout`` passes."""
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise ServerError(f"mlflow server exited with status {proc.returncode} before {uri} answered: {_tail(log)}")
        try:
            with urllib.request.urlopen(uri + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise ServerError(f"mlflow server did not answer at {uri}/health within {timeout:.0f} s: {_tail(log)}")
        time.sleep(0.5)


# ------------------------------------------------------------------ start / stop / status
@contextlib.contextmanager
def _locked(layout: Layout):
    import fcntl  # noqa: PLC0415

    with open(layout.lock, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _running(layout: Layout, state: dict) -> bool:
    """Whether the server recorded in ``state`` still runs (its MLflow process, with the same start time, and the
    postmaster)."""
    pid = state.get("mlflow_pid")
    return bool(
        state.get("ready")
        and pid
        and pid_alive(pid)
        and start_time(pid) == state.get("mlflow_start")
        and layout.postmaster_pid() is not None
    )


def start(
    root: str | os.PathLike = DEFAULT_ROOT,
    port: int = DEFAULT_PORT,
    pg_port: int = DEFAULT_PG_PORT,
    workers: int = 2,
    timeout: float = 180.0,
    install: bool = True,
) -> str:
    """Start PostgreSQL and ``mlflow server`` with state in ``root``; returns the tracking URI. A server already
    running from ``root`` is left as it is (its URI is returned). On failure everything this call started is stopped
    and a cluster it created is removed."""
    if port == pg_port:
        raise ServerError(f"--port and --pg-port are both {port}; they need two different ports")
    layout = Layout(root)
    state = layout.read_state()
    if _running(layout, state):
        print(f"tracking server: already running at {state['uri']} (state in {layout.root})", file=sys.stderr)
        return state["uri"]
    if not state and layout.postmaster_pid() is None:  # nothing of ours holds the ports: check before writing
        _preflight(port, pg_port)
    bindir = find_postgres(install=install)
    try:
        layout.root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ServerError(f"cannot create the state folder {layout.root} ({e.strerror or e})") from None
    with _locked(layout):
        state = layout.read_state()
        if _running(layout, state):  # another start won the race
            return state["uri"]
        if state or layout.postmaster_pid() is not None:  # left over from a killed start or a crash
            _stop(layout)
        _preflight(port, pg_port)
        if _is_root():
            _ensure_pg_user()
        layout.logs.mkdir(exist_ok=True)
        layout.artifacts.mkdir(exist_ok=True)
        fresh = not (layout.pgdata / "PG_VERSION").is_file()
        if fresh and layout.pgdata.exists():
            shutil.rmtree(layout.pgdata)  # a half-made cluster of a killed start
        state = {"root": str(layout.root), "bindir": str(bindir), "port": port, "pg_port": pg_port}
        proc = None
        try:
            if fresh:
                _init_cluster(layout, bindir)
            else:
                _check_reachable(layout)
            state["pg_pid"] = _start_postgres(layout, bindir, pg_port)
            layout.write_state(state)
            if fresh:
                cmd = [str(bindir / "createdb"), "-h", HOST, "-p", str(pg_port), "-U", DB_USER, DB_NAME]
                _run_pg(cmd, f"createdb {DB_NAME}", env=_pg_env(layout))
            uri = uri_of(port)
            with open(layout.mlflow_log, "ab") as log:
                proc = subprocess.Popen(
                    _mlflow_command(layout, port, pg_port, workers),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=layout.root,
                    env=_mlflow_env(layout),
                    start_new_session=True,  # its own process group: stop kills the workers with it
                )
            state.update(mlflow_pid=proc.pid, mlflow_pgid=proc.pid, mlflow_start=start_time(proc.pid))
            layout.write_state(state)
            _wait_healthy(uri, proc, layout.mlflow_log, timeout)
            state.update(uri=uri, ready=True)
            layout.write_state(state)
        except BaseException:  # an error, Ctrl-C or SIGTERM: nothing left running, no half-made cluster
            with contextlib.suppress(Exception):
                _stop(layout)
            if proc is not None:
                proc.poll()  # reap it when it is our child
            if fresh:
                shutil.rmtree(layout.pgdata, ignore_errors=True)
                layout.password.unlink(missing_ok=True)
            raise
    return uri


def _stop(layout: Layout) -> list[str]:
    """Stop what ``layout``'s state names (MLflow's process group, then PostgreSQL); what was stopped."""
    state = layout.read_state()
    stopped = []
    pgid = state.get("mlflow_pgid")
    if pgid and group_pids(pgid):
        leader_ok = not pid_alive(pgid) or start_time(pgid) == state.get("mlflow_start")
        if leader_ok:  # not a reused pid
            kill_group(pgid)
            stopped.append(f"mlflow server (pid {pgid})")
    bindir = Path(state["bindir"]) if state.get("bindir") else None
    pid = layout.postmaster_pid()
    if _stop_postgres(layout, bindir if bindir and bindir.is_dir() else None):
        stopped.append(f"PostgreSQL (pid {pid})")
    layout.state.unlink(missing_ok=True)
    return stopped


def stop(root: str | os.PathLike = DEFAULT_ROOT) -> list[str]:
    """Stop the server whose state is in ``root``; idempotent (returns what was stopped, ``[]`` if nothing ran)."""
    layout = Layout(root)
    if not layout.root.is_dir():
        return []
    with _locked(layout):
        return _stop(layout)


def status(root: str | os.PathLike = DEFAULT_ROOT) -> str | None:
    """The URI of the server running from ``root`` (checked with :func:`graphlearn.tracking.check_server`), or
    ``None`` when none runs; a ``ServerError`` when its processes run but it does not answer."""
    layout = Layout(root)
    state = layout.read_state()
    if not _running(layout, state):
        return None
    from graphlearn.tracking import check_server  # noqa: PLC0415  (imports MLflow: only when one runs)

    try:
        check_server(state["uri"])
    except ValueError as e:
        raise ServerError(str(e)) from None
    return state["uri"]


# ------------------------------------------------------------------ command line
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m graphlearn.tracking.server",
        description="A team MLflow tracking server: PostgreSQL backend store + `mlflow server` with proxied artifacts.",
    )
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--root", default=DEFAULT_ROOT, help=f"state folder (default ./{DEFAULT_ROOT})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"MLflow server port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--pg-port", type=int, default=DEFAULT_PG_PORT, help=f"PostgreSQL port (default {DEFAULT_PG_PORT})"
    )
    parser.add_argument("--workers", type=int, default=2, help="MLflow server worker processes (default 2)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the server (default 180)")
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # a killed start stops what it started, as Ctrl-C does
    prog = f"tracking server {args.command}"
    try:
        if args.command == "start":
            uri = start(args.root, args.port, args.pg_port, workers=args.workers, timeout=args.timeout)
            print(f"tracking server: running at {uri}; jobs log to it with MLFLOW_TRACKING_URI={uri}", file=sys.stderr)
            print(uri)
        elif args.command == "stop":
            stopped = stop(args.root)
            what = ", ".join(stopped) if stopped else f"nothing was running from {Path(args.root).resolve()}"
            print(f"tracking server: stopped {what}" if stopped else f"tracking server: {what}", file=sys.stderr)
        else:
            uri = status(args.root)
            if uri is None:
                print(f"tracking server: not running (state folder {Path(args.root).resolve()})", file=sys.stderr)
                return 1
            print(uri)
    except ServerError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
