"""``python -m config.supervisor [--web]``: what ``make run`` starts, and stops on Ctrl-C.

1. preflight (unreachable database/Redis -> one line, non-zero exit);
2. the web tier: one address, HOST:PORT (default 127.0.0.1:8000), for HTTP and ``/ws/``:
   - real stack (REDIS_URL set): nginx listens there and proxies ``/ws/`` to daphne (Channels)
     and everything else to gunicorn (``WEB_CONCURRENCY`` threaded worker processes,
     ``config/gunicorn_conf.py``), both on Unix sockets in a run directory under ``var/run/``.
     Without an nginx binary: one warning line, and daphne alone serves both (slower, correct);
   - embedded (no REDIS_URL): one daphne serves HTTP and WebSockets. The in-memory channel
     layer, the local-memory cache, SQLite's single writer and the in-process scheduler all
     live in that one process, so a second process would not see its events or jobs;
3. in the real stack one Celery worker, exactly one beat and exactly one stream service
   (``manage.py stream_prices``: the venues' WebSocket/SSE price streams; not with ``--web``: the
   containers run the web tier alone and worker, beat and streams as their own services). In the
   embedded default the stream service runs on a thread of daphne's process beside the in-process
   scheduler (config.scheduler), as beat does there; in an offline price mode it idles.

Each child runs in its own process group; SIGINT/SIGTERM stop every group (gunicorn's and
nginx's workers with their master), and if any child dies the others are stopped too, so
nothing is left behind.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from config.env import env_int
from config.serving import NginxSite, find_nginx, web_concurrency, web_threads

BASE_DIR = Path(__file__).resolve().parent.parent
SOCKET_WAIT_SECONDS = 90.0
MAX_OPEN_FILES = 65536


def _celery(py: str) -> dict[str, list[str]]:
    var = BASE_DIR / "var"
    var.mkdir(exist_ok=True)
    concurrency = os.environ.get("CELERY_CONCURRENCY", "2")
    return {
        "worker": [
            py,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "INFO",
            "--concurrency",
            concurrency,
            "-n",
            "worker@%h",
        ],
        "beat": [
            py,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "-l",
            "INFO",
            "--schedule",
            str(var / "celerybeat-schedule"),
        ],
    }


def _daphne(py: str, host: str, port: str) -> list[str]:
    return [py, "-m", "daphne", "-b", host, "-p", port, "config.asgi:application"]


def _run_dir() -> Path:
    """A private directory for nginx's files and both sockets (a Unix socket path must stay
    short: the system's temp directory when the checkout's path is too long)."""
    parent = BASE_DIR / "var" / "run"
    parent.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="web-", dir=parent))
    if len(str(run_dir / "gunicorn.sock")) > 100:
        run_dir.rmdir()
        run_dir = Path(tempfile.mkdtemp(prefix="solpaper-web-"))
    return run_dir


def _open_files_limit() -> int:
    """Raise the soft open-files limit towards the hard one (children inherit it: each proxied
    WebSocket holds two descriptors in nginx and one in daphne); return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, MAX_OPEN_FILES)
    if want > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return soft


def _nginx_site(host: str, port: str) -> NginxSite:
    from django.conf import settings  # the supervisor's own settings: Django's body limit

    user = None
    if os.geteuid() == 0:  # nginx would switch its workers to "nobody", who cannot reach the sockets
        import grp
        import pwd

        user = f"{pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name}"
    return NginxSite(
        run_dir=_run_dir(),
        host=host,
        port=port,
        body_limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
        worker_connections=min(4096, _open_files_limit()),
        user=user,
    )


def _proxied_env(env: dict[str, str]) -> dict[str, str]:
    """Children behind nginx see it as one more trusted proxy: the client IP is the
    X-Forwarded-For hop nginx appends (accounts.ratelimit.client_ip). The sizes are resolved
    (gunicorn itself parses WEB_CONCURRENCY on import and fails on an empty one, as a copied
    .env.example has it)."""
    proxied = dict(env)
    proxied["AUTH_TRUSTED_PROXY_COUNT"] = str(env_int(env, "AUTH_TRUSTED_PROXY_COUNT", 0) + 1)
    proxied["WEB_CONCURRENCY"] = str(web_concurrency(env))
    proxied["WEB_THREADS"] = str(web_threads(env))
    return proxied


def _dead_child(children: dict[str, subprocess.Popen]) -> tuple[str, int] | None:
    for name, proc in children.items():
        code = proc.poll()
        if code is not None:
            return name, code
    return None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        pass
    return True


def _stop(children: dict[str, subprocess.Popen], grace: float = 15.0) -> None:
    """SIGTERM every child's process group, wait for the leaders and then for their groups'
    other members (workers); SIGKILL whatever is left after ``grace`` seconds."""
    for proc in children.values():
        if _group_alive(proc.pid):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for proc in children.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    while time.monotonic() < deadline and any(_group_alive(p.pid) for p in children.values()):
        time.sleep(0.1)
    for proc in children.values():
        if _group_alive(proc.pid):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if proc.returncode is None:
            proc.wait()


class Supervisor:
    def __init__(self, py: str, env: dict[str, str]) -> None:
        self.py = py
        self.env = env
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = False
        self.exit_code = 0

    def on_signal(self, _signum: int, _frame: object) -> None:
        self.stopping = True

    def start(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.children[name] = subprocess.Popen(cmd, cwd=BASE_DIR, env=env or self.env, start_new_session=True)

    def healthy(self) -> bool:
        """False once stopping, or (noted in the exit code) once any child has died."""
        dead = _dead_child(self.children)
        if dead is not None and not self.stopping:
            name, code = dead
            print(f"supervisor: {name} exited with {code}; stopping the rest", file=sys.stderr, flush=True)
            self.exit_code = code or 1
            self.stopping = True
        return not self.stopping

    def wait_for(self, paths: list[Path], limit: float = SOCKET_WAIT_SECONDS) -> bool:
        deadline = time.monotonic() + limit
        while self.healthy():
            if all(path.exists() for path in paths):
                return True
            if time.monotonic() > deadline:
                print(f"supervisor: no socket at {', '.join(map(str, paths))} after {limit:.0f} s", file=sys.stderr)
                self.exit_code, self.stopping = 1, True
                return False
            time.sleep(0.1)
        return False


def _serve_real_stack(sup: Supervisor, site: NginxSite, nginx: str) -> str:
    """gunicorn and daphne on their sockets, then nginx in front once both exist."""
    proxied = _proxied_env(sup.env)
    sup.start(
        "gunicorn",
        [sup.py, "-m", "gunicorn", "-c", "python:config.gunicorn_conf", "--bind", f"unix:{site.gunicorn_socket}"],
        proxied,
    )
    sup.start("daphne", [sup.py, "-m", "daphne", "-u", str(site.daphne_socket), "config.asgi:application"], proxied)
    workers, threads = proxied["WEB_CONCURRENCY"], proxied["WEB_THREADS"]
    return f"HTTP: gunicorn, {workers} workers x {threads} threads; /ws/: daphne; in front: nginx"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m config.supervisor", description="Run the platform; Ctrl-C stops it."
    )
    parser.add_argument("--web", action="store_true", help="start the web tier only (no Celery worker or beat)")
    args = parser.parse_args(argv)
    py = sys.executable
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    env = dict(os.environ)
    preflight = subprocess.run([py, "manage.py", "preflight"], cwd=BASE_DIR, env=env)
    if preflight.returncode != 0:
        return preflight.returncode
    env["PREFLIGHT_ON_START"] = "0"  # done once above; children skip it
    real_stack = bool(env.get("REDIS_URL", "").strip())
    host, port = env.get("HOST", "127.0.0.1"), env.get("PORT", "8000")
    try:
        web_concurrency(env), web_threads(env)
    except ValueError as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        return 2
    nginx = find_nginx(env) if real_stack else None
    if real_stack and nginx is None:
        print(
            "supervisor: warning: no nginx (NGINX, /usr/sbin/nginx, PATH; `make nginx` installs it): "
            "daphne alone serves HTTP and WebSockets, slower",
            file=sys.stderr,
            flush=True,
        )

    sup = Supervisor(py, env)
    signal.signal(signal.SIGINT, sup.on_signal)
    signal.signal(signal.SIGTERM, sup.on_signal)
    site = _nginx_site(host, port) if nginx else None
    try:
        if site and nginx:
            site.write()
            serving = _serve_real_stack(sup, site, nginx)
        else:
            _open_files_limit()
            sup.start("daphne", _daphne(py, host, port))
            serving = "HTTP and /ws/: daphne"
        if real_stack and not args.web:
            for name, cmd in _celery(py).items():
                sup.start(name, cmd)
            sup.start("streams", [py, "manage.py", "stream_prices"])
        if site and nginx and sup.wait_for([site.gunicorn_socket, site.daphne_socket]):
            sup.start("nginx", site.command(nginx))
        if sup.healthy():
            started = ", ".join(f"{name} (pid {proc.pid})" for name, proc in sup.children.items())
            print(
                f"supervisor: started {started}; serving http://{host}:{port}/ ({serving}; Ctrl-C stops all)",
                flush=True,
            )
        while sup.healthy():
            time.sleep(0.2)
    finally:
        _stop(sup.children)
        if site:
            shutil.rmtree(site.run_dir, ignore_errors=True)
    print("supervisor: stopped", flush=True)
    return sup.exit_code


if __name__ == "__main__":
    sys.exit(main())
