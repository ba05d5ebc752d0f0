"""The configuration switch: which stack the environment selects."""

from pathlib import Path

import pytest

from config.env import (
    ConfigError,
    django_database,
    env_bool,
    env_decimal,
    parse_database_url,
    stack_from_env,
)

BASE = Path("/srv/app")


def test_neither_url_selects_the_embedded_default():
    stack = stack_from_env({}, BASE)
    assert stack.mode == "embedded"
    assert stack.database.engine == "sqlite3"
    assert stack.database.name == "/srv/app/var/db.sqlite3"
    assert stack.redis_url is None
    assert "embedded" in stack.mode_label


def test_both_urls_select_the_real_stack():
    stack = stack_from_env(
        {"DATABASE_URL": "postgres://trader:s%40cret@db.internal:6543/exchange", "REDIS_URL": "redis://r:6379/2"},
        BASE,
    )
    assert stack.mode == "real"
    assert stack.database.engine == "postgresql"
    assert (stack.database.user, stack.database.password) == ("trader", "s@cret")
    assert (stack.database.host, stack.database.port, stack.database.name) == ("db.internal", 6543, "exchange")
    assert stack.redis_url == "redis://r:6379/2"
    assert stack.database.label == "PostgreSQL at db.internal:6543/exchange"


def test_one_url_only_is_reported_as_mixed():
    assert stack_from_env({"DATABASE_URL": "postgres://h/db"}, BASE).mode == "mixed"
    assert stack_from_env({"REDIS_URL": "redis://h:6379/0"}, BASE).mode == "mixed"


def test_blank_urls_count_as_unset():
    assert stack_from_env({"DATABASE_URL": "  ", "REDIS_URL": ""}, BASE).mode == "embedded"


@pytest.mark.parametrize(
    "url",
    ["mysql://h/db", "postgres://h:5432/", "postgres://h:notaport/db", "sqlite://relative/x.db", "nonsense"],
)
def test_unusable_database_urls_are_refused(url):
    with pytest.raises(ConfigError):
        parse_database_url(url)


def test_redis_url_must_be_a_redis_url():
    with pytest.raises(ConfigError, match="REDIS_URL"):
        stack_from_env({"REDIS_URL": "http://localhost:6379"}, BASE)


def test_sqlite_url_paths():
    assert parse_database_url("sqlite:////tmp/x.db").name == "/tmp/x.db"
    assert parse_database_url("sqlite:///var/x.db").name == "var/x.db"


def test_sqlite_uses_wal_and_immediate_transactions():
    db = django_database(parse_database_url("sqlite:////tmp/x.db"), connect_timeout=3, conn_max_age=0)
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]


def test_postgres_gets_a_connect_timeout_and_query_options():
    target = parse_database_url("postgres://u@h:5432/db?sslmode=require")
    db = django_database(target, connect_timeout=3, conn_max_age=60)
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert db["OPTIONS"]["connect_timeout"] == 3
    assert db["OPTIONS"]["sslmode"] == "require"
    assert db["OPTIONS"]["keepalives"] == 1 and db["OPTIONS"]["keepalives_count"] >= 1
    assert db["PORT"] == "5432"


def test_postgres_connections_are_kept_without_a_per_request_health_check():
    """Kept connections (``CONN_MAX_AGE``) are not pinged with ``SELECT 1`` at each request: a broken
    one is closed after the request it failed (tests/proof/test_faults.py pins that recovery)."""
    db = django_database(parse_database_url("postgres://u@h/db"), connect_timeout=3, conn_max_age=60)
    assert db["CONN_MAX_AGE"] == 60 and db["CONN_HEALTH_CHECKS"] is False


def test_postgres_sessions_run_without_jit_unless_the_url_asks():
    """JIT compilation is off for the app's sessions (OLTP statements; a funding run's statement
    spent ~1 s compiling); a URL's own ``options`` come after and win."""
    db = django_database(parse_database_url("postgres://u@h/db"), connect_timeout=3, conn_max_age=60)
    assert db["OPTIONS"]["options"] == "-c jit=off"
    target = parse_database_url("postgres://u@h/db?options=-c%20jit%3Don")
    assert django_database(target, connect_timeout=3, conn_max_age=60)["OPTIONS"]["options"] == "-c jit=off -c jit=on"


@pytest.mark.django_db
def test_the_live_connection_has_jit_off():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL setting")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


def test_typed_readers_reject_garbage():
    assert env_bool({"X": "yes"}, "X", False) is True
    assert env_bool({}, "X", True) is True
    with pytest.raises(ConfigError):
        env_bool({"X": "maybe"}, "X", False)
    assert str(env_decimal({"F": "12.5"}, "F", "1")) == "12.5"
    for bad in ("abc", "NaN", "Infinity"):
        with pytest.raises(ConfigError):
            env_decimal({"F": bad}, "F", "1")
