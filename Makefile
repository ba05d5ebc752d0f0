# Two commands matter: `make run` and `make test`. `make help` lists the rest.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Front-end packages (npm, pinned by package-lock.json) copied into static/vendor/ (generated, gitignored).
VENDOR_STAMP := static/vendor/.built
# The browser tests drive Debian's Chromium (never a downloaded browser).
CHROMIUM ?= /usr/bin/chromium
# The real stack's front server (config/supervisor.py finds it at $NGINX (env), /usr/sbin/nginx or on PATH).
NGINX_PACKAGE ?= nginx

# Tests use the real PostgreSQL and Redis; override with TEST_DATABASE_URL / TEST_REDIS_URL.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install assets browser nginx run test soak migrate preflight superuser lint format check-deploy bench lock clean

help: ## List every target
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): requirements/runtime.lock requirements/dev.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.lock
	@touch $(STAMP)

$(VENDOR_STAMP): package.json package-lock.json scripts/vendor.mjs
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	npm run --silent build
	@touch $(VENDOR_STAMP)

assets: $(VENDOR_STAMP) ## Install the pinned npm packages and copy them into static/vendor/

browser: ## Install Debian's Chromium for the browser tests when it is missing (apt-get, needs root or sudo)
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "warning: $(CHROMIUM) is missing and apt-get needs root: run 'sudo apt-get install chromium' (browser tests fail without it)"; fi

# apt-get may start the package's own nginx service (port 80): stop it, the supervisor runs its own.
nginx: ## Install Debian's nginx (front server of the real stack) when it is missing (apt-get, needs root or sudo)
	@if [ -x "$${NGINX:-/usr/sbin/nginx}" ] || command -v nginx >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(NGINX_PACKAGE) >/dev/null \
		&& { service nginx stop >/dev/null 2>&1 || true; }; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(NGINX_PACKAGE) >/dev/null \
		&& { sudo service nginx stop >/dev/null 2>&1 || true; }; \
	else echo "warning: nginx is missing and apt-get needs root: run 'sudo apt-get install $(NGINX_PACKAGE)' (without it the real stack serves HTTP from daphne alone, slower)"; fi

install: $(STAMP) $(VENDOR_STAMP) ## Create .venv and install the pinned Python and npm dependencies

migrate: install ## Apply database migrations (to DATABASE_URL, or var/db.sqlite3)
	$(PY) manage.py migrate --noinput

preflight: install ## Check the configured database and Redis answer
	$(PY) manage.py preflight

run: install nginx ## Set up and run the platform on 127.0.0.1:8000 (embedded, or real stack when DATABASE_URL/REDIS_URL are set)
	@$(PY) manage.py preflight
	@$(PY) manage.py migrate --noinput
	$(PY) -m config.supervisor

test: install browser nginx ## Run every test against the real PostgreSQL and Redis (browser tests use Debian's Chromium)
	DATABASE_URL="$(TEST_DATABASE_URL)" REDIS_URL="$(TEST_REDIS_URL)" DJANGO_SETTINGS_MODULE=config.settings.test \
		$(PY) -m pytest $(PYTEST_ARGS)

soak: install ## Long proof tier (bank test for minutes, deep fuzzing, faults); prints a table of every check
	DATABASE_URL="$(TEST_DATABASE_URL)" REDIS_URL="$(TEST_REDIS_URL)" DJANGO_SETTINGS_MODULE=config.settings.test \
		$(PY) bench/soak.py $(PYTEST_ARGS)

superuser: install ## Create an ops account for /admin/
	$(PY) manage.py createsuperuser

lint: install ## ruff lint and format check, mypy type check (django-stubs)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: install ## Format the code with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check-deploy: install ## Django's deployment checklist under production settings
	DJANGO_SETTINGS_MODULE=config.settings.prod SECRET_KEY="$${SECRET_KEY:-check-deploy-$$(head -c 48 /dev/urandom | base64 | tr -d '/+=')}" \
		ALLOWED_HOSTS="$${ALLOWED_HOSTS:-exchange.example.com}" $(PY) manage.py check --deploy --fail-level WARNING

bench: install ## Run the benchmarks in bench/ (real stack)
	$(PY) bench/run.py

lock: ## Re-resolve requirements/*.lock from pyproject.toml's pins (needs the package index)
	rm -rf /tmp/solpaper-lock && $(PYTHON) -m venv /tmp/solpaper-lock
	$(PYTHON) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies']))" > /tmp/solpaper-runtime.in
	$(PYTHON) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['optional-dependencies']['dev']))" > /tmp/solpaper-dev.in
	/tmp/solpaper-lock/bin/pip install --quiet -r /tmp/solpaper-runtime.in && /tmp/solpaper-lock/bin/pip freeze > /tmp/runtime.txt
	/tmp/solpaper-lock/bin/pip install --quiet -r /tmp/solpaper-dev.in && /tmp/solpaper-lock/bin/pip freeze > /tmp/all.txt
	{ echo "# Runtime dependencies, every package pinned (direct ones are in pyproject.toml)."; echo "# Regenerate: make lock"; cat /tmp/runtime.txt; } > requirements/runtime.lock
	{ echo "# Development and test dependencies on top of runtime.lock, every package pinned."; echo "-r runtime.lock"; comm -13 <(sort /tmp/runtime.txt) <(sort /tmp/all.txt); } > requirements/dev.lock

clean: ## Remove the virtual environment, local database, caches and built front-end files
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache .hypothesis node_modules static/vendor artifacts
