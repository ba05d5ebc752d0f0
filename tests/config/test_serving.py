"""The web tier's sizing rules, the nginx configuration the supervisor renders (valid for the
real nginx binary), gunicorn reading config/gunicorn_conf.py, and views served in gunicorn's own
threads."""

from __future__ import annotations

import re
import subprocess

import pytest

from config import serving
from config.serving import NginxSite, find_nginx, web_concurrency, web_threads
from core import dbthreads
from tests.conftest import PYTHON, ROOT, subprocess_env


def _site(tmp_path, host: str = "127.0.0.1", body_limit: int | None = 2_621_440) -> NginxSite:
    return NginxSite(run_dir=tmp_path, host=host, port="8000", body_limit=body_limit, worker_connections=1024)


def test_web_concurrency_defaults_to_two_per_core_clamped_to_two_to_eight(monkeypatch):
    """Unset: two processes per core clamped to 2..8 (8 x 2 threads keeps PostgreSQL connections
    well under 100); set: taken as given; zero or less is refused."""
    for cores, expected in [(1, 2), (2, 4), (3, 6), (64, 8)]:
        monkeypatch.setattr(serving, "cores", lambda cores=cores: cores)
        assert web_concurrency({}) == expected
    assert web_concurrency({"WEB_CONCURRENCY": "12"}) == 12
    assert web_threads({}) == 2 and web_threads({"WEB_THREADS": "3"}) == 3
    with pytest.raises(ValueError, match="WEB_CONCURRENCY"):
        web_concurrency({"WEB_CONCURRENCY": "0"})


def test_find_nginx_honours_the_override_and_reports_a_missing_binary(tmp_path):
    """``NGINX`` wins when it is an executable file; a path that is not one means no nginx."""
    assert find_nginx({"NGINX": str(tmp_path / "nope")}) is None
    assert find_nginx({"NGINX": str(tmp_path)}) is None  # a directory is not a binary
    fake = tmp_path / "nginx"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_nginx({"NGINX": str(fake)}) == str(fake)


def test_the_rendered_config_proxies_ws_to_daphne_and_the_rest_to_gunicorn(tmp_path):
    """Every placeholder is filled: the listen address (IPv6 in brackets), both sockets, a body
    ceiling four times Django's limit whose 413 says Django's limit in the API's error shape."""
    text = _site(tmp_path, host="::1").render()
    assert not re.search(r"\{\{\w+\}\}", text)
    assert "listen [::1]:8000;" in text
    assert f"server unix:{tmp_path}/gunicorn.sock;" in text
    assert f"server unix:{tmp_path}/daphne.sock;" in text
    assert "client_max_body_size 10485760;" in text
    assert '"code": "payload_too_large"' in text and '"limit_bytes": 2621440' in text
    ws_block = text.split("location /ws/ {")[1].split("}")[0]
    assert "proxy_pass http://daphne;" in ws_block and "proxy_set_header Upgrade $http_upgrade;" in ws_block
    stream_block = text.split("location = /stream {")[1].split("}")[0]  # Alpaca's trading stream
    assert "proxy_pass http://daphne;" in stream_block and "proxy_set_header Upgrade $http_upgrade;" in stream_block
    rest_block = text.split("location / {")[1].split("}")[0]
    assert "proxy_pass http://gunicorn;" in rest_block and "proxy_set_header Host $http_host;" in rest_block
    assert "client_max_body_size 0;" in _site(tmp_path, body_limit=None).render()


def test_nginx_accepts_the_rendered_config(tmp_path):
    """``nginx -t`` (the binary `make nginx` installs) accepts the configuration as rendered."""
    nginx = find_nginx({})
    if nginx is None:
        pytest.fail("nginx is missing: `make nginx` installs Debian's nginx (apt-get, as root)")
    site = _site(tmp_path)
    site.write()
    result = subprocess.run([*site.command(nginx)[:-2], "-t"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_gunicorn_reads_the_config_module():
    """gunicorn itself takes workers and threads from the environment through config/gunicorn_conf.py,
    with threaded workers, no access log and no control socket."""
    env = subprocess_env(WEB_CONCURRENCY="3", WEB_THREADS="5")
    result = subprocess.run(
        [PYTHON, "-m", "gunicorn", "-c", "python:config.gunicorn_conf", "--print-config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config = {}
    for line in result.stdout.splitlines():
        name, sep, value = line.partition(" = ")
        if sep:
            config[name.strip()] = value.strip()
    assert config["workers"] == "3"
    assert config["threads"] == "5"
    assert config["worker_class"] == "gthread"
    assert config["accesslog"] == "None"
    assert config["control_socket_disable"] == "True"
    assert config["wsgi_app"] == "config.wsgi:application"


def test_in_a_threaded_wsgi_worker_wrapped_views_stay_plain_sync_views(monkeypatch):
    """Once a gunicorn worker has called serve_on_request_threads, on_db_threads hands the view
    back untouched (no async hand-off); before, it wraps it for ASGI."""
    monkeypatch.setattr(dbthreads, "_request_threads", False)

    def view(request):
        return request

    assert dbthreads.on_db_threads(view) is not view
    dbthreads.serve_on_request_threads()
    assert dbthreads.on_db_threads(view) is view


def test_under_gunicorn_a_body_the_app_left_unread_is_read_before_the_response():
    """ReadWholeBody leaves gunicorn's input at its end whatever the app read; under another
    server (whose input may be the raw socket) it reads nothing."""
    import io

    from config.wsgi import ReadWholeBody

    def app(environ, start_response):
        environ["wsgi.input"].read(10)  # refuses the rest, like Django's 413 or a 401
        start_response("413 Payload Too Large", [])
        return [b"refused"]

    for software, left in [("gunicorn/27.0.1", b""), ("WSGIServer/0.2", b"y" * 100)]:
        body = io.BytesIO(b"x" * 10 + b"y" * 100)
        response = ReadWholeBody(app)({"wsgi.input": body, "SERVER_SOFTWARE": software}, lambda *a: None)
        assert list(response) == [b"refused"]
        assert body.read() == left


def test_the_app_servers_behind_nginx_get_resolved_sizes_and_one_more_trusted_proxy():
    """gunicorn and daphne behind the supervisor's nginx trust one more X-Forwarded-For hop than
    configured, and get WEB_CONCURRENCY / WEB_THREADS resolved (an empty WEB_CONCURRENCY, as a
    copied .env.example has it, would stop gunicorn on import)."""
    from config.supervisor import _proxied_env

    env = _proxied_env({"WEB_CONCURRENCY": "", "WEB_THREADS": "", "AUTH_TRUSTED_PROXY_COUNT": "1"})
    assert env["WEB_CONCURRENCY"] == str(web_concurrency({})) and env["WEB_THREADS"] == "2"
    assert env["AUTH_TRUSTED_PROXY_COUNT"] == "2"
    assert _proxied_env({})["AUTH_TRUSTED_PROXY_COUNT"] == "1"
