# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install bench clean chromium postgres-binaries screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv (from PyPI, into the venv) installs the packages pip would, from its own cache, for about two
# thirds of pip's CPU and four fifths of its wall, with no upgrade of pip first; pip is the
# fallback. docs/benchmarks.md "Suite time (s27-suite)".
$(STAMP): $(BIN)/python pyproject.toml
	{ $(BIN)/pip install --quiet uv && $(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test,spark]'; } \
	  || $(BIN)/pip install --quiet -e '.[test,spark]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/linkage demo --children 3000 --seed 42 --difficulty realistic --work-dir .demo

# The browser tests drive Debian's chromium; installed only when missing.
chromium:
	@test -x /usr/bin/chromium || { DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }


# The PostgreSQL tests start their own throwaway server: they need its binaries.
postgres-binaries:
	@command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get install -y -q postgresql || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q postgresql; }; }

# Two workers (one per core of the 2-core CI machine), each taking whole modules, slowest first
# (tests/conftest.py SLOW_FIRST): a module's fixtures, servers and order stay in one process.
# `make test PYTEST_WORKERS=0` runs the suite in one process.
# PYTHONDONTWRITEBYTECODE (set in some shells and CI images) would have every server and command a
# test starts compile src/ again: 0.3 to 0.4 CPU s a process (docs/benchmarks.md "Session 29: suite, suite-d").
PYTEST_WORKERS ?= 2
test: $(STAMP) chromium postgres-binaries
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile \
	  --no-loadscope-reorder --durations=15

# The page tests photograph every page; this keeps the photographs in docs/screenshots/.
screenshots: $(STAMP) chromium postgres-binaries
	LINKAGE_TEST_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest -q tests/test_web_*.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_link.py --children 20000

clean:
	rm -rf .demo .linkage .pytest_cache
