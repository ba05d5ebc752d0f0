"""``python -m config.supervisor``: what ``make run`` starts, and stops on Ctrl-C.

1. preflight (unreachable database/Redis -> one line, non-zero exit);
2. daphne serving HTTP + WebSocket on HOST:PORT (default 127.0.0.1:8000);
3. in the real stack (REDIS_URL set) one Celery worker and exactly one beat.
   In the embedded default the periodic jobs run inside the daphne process.

Each child runs in its own process group; SIGINT/SIGTERM stop them all, and if
any child dies the others are stopped too, so nothing is left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _commands(py: str, host: str, port: str, real_stack: bool) -> dict[str, list[str]]:
    commands = {"web": [py, "-m", "daphne", "-b", host, "-p", port, "config.asgi:application"]}
    if real_stack:
        var = BASE_DIR / "var"
        var.mkdir(exist_ok=True)
        commands["worker"] = [
            py,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "INFO",
            "--concurrency",
            os.environ.get("CELERY_CONCURRENCY", "2"),
            "-n",
            "worker@%h",
        ]
        commands["beat"] = [
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
        ]
    return commands


def _stop(children: dict[str, subprocess.Popen], grace: float = 10.0) -> None:
    for proc in children.values():
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for proc in children.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> int:
    py = sys.executable
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    preflight = subprocess.run([py, "manage.py", "preflight"], cwd=BASE_DIR, env=env)
    if preflight.returncode != 0:
        return preflight.returncode
    env["PREFLIGHT_ON_START"] = "0"  # done once above; children skip it
    real_stack = bool(env.get("REDIS_URL", "").strip())
    host, port = env.get("HOST", "127.0.0.1"), env.get("PORT", "8000")

    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    children: dict[str, subprocess.Popen] = {}
    for name, cmd in _commands(py, host, port, real_stack).items():
        children[name] = subprocess.Popen(cmd, cwd=BASE_DIR, env=env, start_new_session=True)
    started = ", ".join(f"{name} (pid {proc.pid})" for name, proc in children.items())
    print(f"supervisor: started {started}; serving http://{host}:{port}/ (Ctrl-C stops all)", flush=True)
    exit_code = 0
    try:
        while not stopping:
            for name, proc in children.items():
                code = proc.poll()
                if code is not None:
                    print(f"supervisor: {name} exited with {code}; stopping the rest", file=sys.stderr, flush=True)
                    exit_code = code or 1
                    stopping = True
                    break
            time.sleep(0.2)
    finally:
        _stop(children)
    print("supervisor: stopped", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
