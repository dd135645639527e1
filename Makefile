# Two commands on a fresh machine: `make demo` (the whole method on the embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sif-installed
PYTEST_ARGS ?=

.PHONY: demo test test-fast install clean bench browser

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) launch.py

# Headless Chromium for the HTML report test (tests/eval/test_report.py): installed with apt-get (as root or
# with passwordless sudo) when missing; never fails - without a browser that test is skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && \
	    { if [ "$$(id -u)" = 0 ]; then S=; else S="sudo -n"; fi; \
	      $$S apt-get update -qq && $$S env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }; } || \
	  echo "chromium unavailable: the HTML report browser test will be skipped"

test: $(STAMP) browser
	$(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf outputs multirun .cache/sif
