# The two commands of the README: `make demo` and `make test`. Both work from a fresh clone with Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEMO_ENV := DEBUG=true ECRF_DEMO=true

.PHONY: demo test lint bench browser r gettext messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed

# Debian's chromium for the browser journeys (Playwright drives it; it downloads no browser of its own).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# R runs the export's reading script in the tests (Stata and SPSS are not installable: their scripts are checked in Python).
r:
	@command -v Rscript >/dev/null 2>&1 || { \
		echo "Installing Debian's r-base-core for the tests of the R reading script"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends r-base-core >/dev/null; }

# GNU gettext: the tests check the Italian catalogue with makemessages (xgettext) and msgfmt.
gettext:
	@command -v xgettext >/dev/null 2>&1 || { \
		echo "Installing Debian's gettext for the tests of the translations"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq gettext >/dev/null; }

# After marking or changing a message: update the Italian catalogue, translate what it marks empty, compile it.
messages: $(VENV)/.installed-dev gettext
	$(BIN)/python manage.py makemessages -l it --no-obsolete --add-location file --ignore 'tests/*' --ignore 'bench/*' --ignore 'var/*'
	$(BIN)/python manage.py compilemessages -l it --ignore '.venv'

demo: $(VENV)/.installed
	$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEMO_ENV) $(BIN)/python manage.py load_demo
	@echo "Starting the Celery worker (with beat) and the web server on http://127.0.0.1:$(PORT)/ (Ctrl-C stops both)"
	@$(DEMO_ENV) $(BIN)/celery -A config worker --beat --scheduler django_celery_beat.schedulers:DatabaseScheduler \
		--loglevel warning --concurrency 1 --logfile var/celery-worker.log & WORKER=$$!; \
	trap 'kill $$WORKER 2>/dev/null' EXIT INT TERM; \
	$(DEMO_ENV) $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: $(VENV)/.installed-dev browser r gettext
	$(BIN)/python manage.py makemigrations --check --dry-run --settings config.test_settings
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(VENV)/.installed-dev
	@status=0; for b in $(filter-out bench/locustfile.py bench/_%.py,$(wildcard bench/*.py)); do \
		echo "== $$b"; $(BIN)/python $$b || { echo "== $$b: FAIL or not run"; status=1; }; done; exit $$status

clean:
	rm -rf $(VENV) var
