"""gunicorn settings for the real stack's HTTP tier (``gunicorn -c python:config.gunicorn_conf``).

``config.supervisor`` passes ``--bind`` (a Unix socket nginx proxies to). Threaded workers
(``gthread``): each thread serves one request at a time in the process's own Django, with no
ASGI hand-off, and keeps its database connection (``DB_CONN_MAX_AGE``) across requests.
Sizing: ``config.serving.web_concurrency`` / ``web_threads`` (``WEB_CONCURRENCY``, ``WEB_THREADS``).
"""

import os

from config.serving import web_concurrency, web_threads

wsgi_app = "config.wsgi:application"
worker_class = "gthread"
workers = web_concurrency(os.environ)
threads = web_threads(os.environ)
# Longer than nginx's upstream keepalive_timeout (60 s, config/nginx.conf.template): nginx closes
# an idle connection first. An idle kept-alive connection costs no thread, only a poller entry.
keepalive = 75
# A worker whose main loop stops answering for this long is replaced; it does not bound a
# request (gthread keeps beating while threads work).
timeout = 30
graceful_timeout = 10  # the supervisor gives every child 10 s after SIGTERM
accesslog = None  # nginx in front logs nothing either; errors go to stderr
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Only nginx reaches the socket; the scheme comes from the header nginx sets (as Django's
# SECURE_PROXY_SSL_HEADER reads it), never from gunicorn's other proxy headers.
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
# No runtime-control socket (gunicorn >= 25 would create one under $HOME for every master).
control_socket_disable = True


def post_fork(server, worker):
    """In each worker, before the app loads: views wrapped for ASGI's thread hand-off
    (``core.dbthreads.on_db_threads``) run right in gunicorn's long-lived request threads."""
    from core.dbthreads import serve_on_request_threads

    serve_on_request_threads()
