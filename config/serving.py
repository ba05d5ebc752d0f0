"""How the web tier is sized and fronted: the rules ``config.supervisor`` and ``config.gunicorn_conf``
share, and the nginx configuration rendered from ``config/nginx.conf.template``.

Django-free on purpose: the supervisor and gunicorn's master read it before any app loads.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
DEFAULT_WEB_THREADS = 2
PROCESSES_PER_CORE = 2
MAX_DEFAULT_WEB_CONCURRENCY = 8
# nginx buffers a request body before gunicorn sees it; it refuses bodies this many times over
# Django's DATA_UPLOAD_MAX_MEMORY_SIZE itself, so every smaller body still gets Django's 413.
NGINX_BODY_FACTOR = 4


def cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's cpuset), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    value = int(raw)
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return value


def web_concurrency(env: Mapping[str, str]) -> int:
    """gunicorn worker processes: ``WEB_CONCURRENCY``, else two per core, clamped to 2..8.

    Processes rather than threads: a request is mostly Python (the fill itself is one database
    call), so threads of one process queue on its GIL -- and a thread that waits for the GIL
    after its call returned holds the trader's row locks until it sends COMMIT. On 2 cores, 4
    processes x 2 threads gave 330-400 fills/s at 32 clients where 2 x 8 gave 240-260 (the same
    at 8 clients; docs/trading.md, "Benchmark"). Eight at most so the default PostgreSQL
    connections (workers x ``WEB_THREADS``) stay well under ``max_connections`` = 100.
    """
    default = min(max(2, PROCESSES_PER_CORE * cores()), MAX_DEFAULT_WEB_CONCURRENCY)
    return _positive(env, "WEB_CONCURRENCY", default)


def web_threads(env: Mapping[str, str]) -> int:
    """Threads per gunicorn worker (``WEB_THREADS``, default 2); each holds one database connection."""
    return _positive(env, "WEB_THREADS", DEFAULT_WEB_THREADS)


def find_nginx(env: Mapping[str, str]) -> str | None:
    """The nginx binary: ``$NGINX`` when set (None unless it is executable), else
    ``/usr/sbin/nginx``, else ``nginx`` on ``PATH``."""
    explicit = env.get("NGINX", "").strip()
    if explicit:
        return explicit if os.access(explicit, os.X_OK) and Path(explicit).is_file() else None
    if os.access("/usr/sbin/nginx", os.X_OK):
        return "/usr/sbin/nginx"
    return shutil.which("nginx", path=env.get("PATH"))


def listen_address(host: str, port: str) -> str:
    """nginx's ``listen`` argument: IPv6 literals go in brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


@dataclass(frozen=True)
class NginxSite:
    run_dir: Path  # pid, temp files, the config and both upstream sockets
    host: str
    port: str
    body_limit: int | None  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE (None = unlimited)
    worker_connections: int
    user: str | None = None  # only when the supervisor runs as root: workers run as the same user

    @property
    def gunicorn_socket(self) -> Path:
        return self.run_dir / "gunicorn.sock"

    @property
    def daphne_socket(self) -> Path:
        return self.run_dir / "daphne.sock"

    @property
    def conf_path(self) -> Path:
        return self.run_dir / "nginx.conf"

    def values(self) -> dict[str, str]:
        limit = self.body_limit
        return {
            "user_directive": f"user {self.user};" if self.user else "# workers run as the supervisor's user",
            "run_dir": str(self.run_dir),
            "worker_connections": str(self.worker_connections),
            "listen": listen_address(self.host, self.port),
            "gunicorn_socket": str(self.gunicorn_socket),
            "daphne_socket": str(self.daphne_socket),
            "max_body": "0" if limit is None else str(limit * NGINX_BODY_FACTOR),
            "limit_bytes": "null" if limit is None else str(limit),
        }

    def render(self) -> str:
        values = self.values()

        def fill(match: re.Match[str]) -> str:
            return values[match.group(1)]  # KeyError: the template names a value we do not have

        return re.sub(r"\{\{(\w+)\}\}", fill, TEMPLATE.read_text())

    def write(self) -> Path:
        self.conf_path.write_text(self.render())
        return self.conf_path

    def command(self, nginx: str) -> list[str]:
        """nginx in the foreground on the generated config; ``-e stderr`` keeps it off the
        system's log directory before the config is read (so it runs as any user)."""
        return [nginx, "-p", str(self.run_dir), "-c", str(self.conf_path), "-e", "stderr", "-g", "daemon off;"]
