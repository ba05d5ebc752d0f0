"""Read the process environment into typed values (12-factor).

Pure functions only: nothing here touches Django, the network or the disk, so
the configuration switch (embedded default vs real stack) is unit-testable with
plain dictionaries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A variable is present but cannot be understood."""


def env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")


def env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not an integer") from exc


def env_decimal(environ: Mapping[str, str], name: str, default: str) -> Decimal:
    raw = environ.get(name)
    value = default if raw is None or raw.strip() == "" else raw.strip()
    try:
        result = Decimal(value)
    except ArithmeticError as exc:
        raise ConfigError(f"{name}={raw!r} is not a decimal number") from exc
    if not result.is_finite():
        raise ConfigError(f"{name}={raw!r} is not a finite number")
    return result


def env_list(environ: Mapping[str, str], name: str, default: str = "") -> list[str]:
    raw = environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


@dataclass(frozen=True)
class DatabaseTarget:
    """Where the database lives, parsed from ``DATABASE_URL``."""

    engine: str  # "postgresql" or "sqlite3"
    name: str
    user: str = ""
    password: str = ""
    host: str = ""
    port: int | None = None
    options: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        if self.engine == "sqlite3":
            return f"SQLite at {self.name}"
        return f"PostgreSQL at {self.host or 'localhost'}:{self.port or 5432}/{self.name}"


def parse_database_url(url: str) -> DatabaseTarget:
    """Parse ``postgres://user:pass@host:port/name?opt=v`` or ``sqlite:///path``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"postgres", "postgresql", "pgsql"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ConfigError("DATABASE_URL has no database name (postgres://host:5432/NAME)")
        try:
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"DATABASE_URL has a bad port: {exc}") from exc
        return DatabaseTarget(
            engine="postgresql",
            name=name,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            host=parts.hostname or "",
            port=port,
            options=tuple(parse_qsl(parts.query)),
        )
    if scheme == "sqlite":
        path = parts.path
        if parts.netloc:  # sqlite://relative/path is not a thing; be explicit
            raise ConfigError("DATABASE_URL for SQLite is sqlite:///relative or sqlite:////absolute")
        return DatabaseTarget(engine="sqlite3", name=path[1:] if path.startswith("/") else path)
    raise ConfigError(f"DATABASE_URL scheme {scheme!r} is not supported (use postgres:// or sqlite:///)")


@dataclass(frozen=True)
class StackConfig:
    """Which backing services this process uses."""

    database: DatabaseTarget
    redis_url: str | None

    @property
    def uses_postgres(self) -> bool:
        return self.database.engine == "postgresql"

    @property
    def uses_redis(self) -> bool:
        return self.redis_url is not None

    @property
    def mode(self) -> str:
        """``real`` (PostgreSQL + Redis), ``embedded`` (neither) or ``mixed``."""
        if self.uses_postgres and self.uses_redis:
            return "real"
        if not self.uses_postgres and not self.uses_redis:
            return "embedded"
        return "mixed"

    @property
    def mode_label(self) -> str:
        labels = {
            "real": "real stack (PostgreSQL + Redis + Celery)",
            "embedded": "embedded default (SQLite + in-memory channel layer, jobs in-process)",
            "mixed": "mixed ("
            + ("PostgreSQL" if self.uses_postgres else "SQLite")
            + " + "
            + ("Redis" if self.uses_redis else "in-memory layer, jobs in-process")
            + ")",
        }
        return labels[self.mode]


def stack_from_env(environ: Mapping[str, str], base_dir: Path) -> StackConfig:
    """Decide the stack from ``DATABASE_URL`` / ``REDIS_URL``.

    Neither set -> the embedded default: SQLite file under ``var/`` and no Redis.
    """
    db_url = environ.get("DATABASE_URL", "").strip()
    if db_url:
        database = parse_database_url(db_url)
    else:
        database = DatabaseTarget(engine="sqlite3", name=str(base_dir / "var" / "db.sqlite3"))
    redis_url = environ.get("REDIS_URL", "").strip() or None
    if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"REDIS_URL {redis_url!r} must start with redis://, rediss:// or unix://")
    return StackConfig(database=database, redis_url=redis_url)


def django_database(target: DatabaseTarget, *, connect_timeout: int, conn_max_age: int) -> dict:
    """The ``DATABASES['default']`` entry for a target."""
    if target.engine == "sqlite3":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": target.name,
            "OPTIONS": {
                # Writers take the lock at BEGIN and wait for it instead of
                # failing with "database is locked" halfway through -- for a few seconds at
                # most: a trader's command that waited longer answers 503 lock_timeout rather
                # than filling late (trading/services/command.py).
                "transaction_mode": "IMMEDIATE",
                "timeout": 5,
                "init_command": (
                    "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=5000;PRAGMA foreign_keys=ON;"
                ),
            },
        }
    # connect_timeout bounds new connections; TCP keepalives bound a query stuck on a peer
    # that silently stopped answering (no RST), so a request errors (503) instead of hanging.
    options: dict[str, object] = {
        "connect_timeout": connect_timeout,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }
    options.update(dict(target.options))
    # JIT compilation off for this app's sessions (a server option, sent at connect): it pays off
    # for long analytical queries, while every statement here is OLTP; the set-based ones (a
    # funding run, a trigger batch) cross ``jit_above_cost`` and spent ~1 s compiling a funding
    # run's statement over 100,000 positions (docs/positions.md, "Funding"). A URL's own
    # ``options`` come after, so they can turn it back on.
    options["options"] = " ".join(filter(None, ["-c jit=off", str(options.get("options", ""))]))
    # No health check (a ``SELECT 1`` round trip) at the start of every request that reuses a
    # connection: a connection that raised a database error is closed at the end of that request
    # (Django's ``close_if_unusable_or_obsolete``, run by ``request_finished``, ``core.dbthreads``
    # and the in-process scheduler; Celery closes its own around each task). The cost: after a
    # database restart each kept connection fails its next request once (503 database_unavailable,
    # ``Retry-After``); the one after works (tests/proof/test_faults.py).
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": target.name,
        "USER": target.user,
        "PASSWORD": target.password,
        "HOST": target.host,
        "PORT": str(target.port) if target.port else "",
        "CONN_MAX_AGE": conn_max_age,
        "CONN_HEALTH_CHECKS": False,
        "OPTIONS": options,
    }
