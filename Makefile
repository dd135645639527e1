# Two commands on a fresh machine: `make demo` (the whole method on the embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sif-installed
PYTEST_ARGS ?=

.PHONY: demo test test-fast test-gpu install clean bench browser reliability

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

# the tests marked `gpu` (skipped elsewhere): the compiled / CUDA-graphed fast path against generate, on a GPU
test-gpu: $(STAMP)
	$(PY) -m pytest -m gpu -p no:xdist -q -s $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

# docs/RELIABILITY.md's figures and docs/reliability.json, regenerated from a fresh run of the reliability suite
RELIABILITY_DIR ?= outputs/reliability-run
reliability: $(STAMP)
	rm -rf $(RELIABILITY_DIR)
	SIF_RELIABILITY_DIR=$(RELIABILITY_DIR) $(PY) -m pytest tests/faults tests/security tests/data/test_bad_inputs.py -q -n 2 --dist loadgroup
	$(PY) benchmarks/reliability_report.py $(RELIABILITY_DIR)/reliability.json --json docs/reliability.json --md docs/RELIABILITY.md

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf outputs multirun .cache/sif
