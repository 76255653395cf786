# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test test-slow demo fuzz bench bench-resting bench-exchange chaos proof docs model constraints clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,test]'
	touch $(STAMP)

venv: $(STAMP)

# Every test except those marked slow (each starts several full stacks); CI runs both.
test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" --durations=20 $(PYTEST_ARGS)

# The slow tests: proof checks seen to fail with their protection removed, the bench smoke run.
test-slow: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,test,bench]'
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/quantum-trader demo

proof: $(STAMP)
	$(BIN)/quantum-trader proof

# 1,000 decisions under worker kills, restarts and exchange faults, then a reconciliation.
chaos: $(STAMP)
	$(BIN)/quantum-trader chaos $(CHAOS_ARGS)

# a (Temporal ceiling), b (original streams design) and c (this system): table, JSON, PNG.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,test,bench]'
	$(BIN)/quantum-trader bench $(BENCH_ARGS)

# Resting LIMIT orders followed by the user data streams and by polling: weight, memory, fill latency.
BENCH_RESTING_ARGS ?= --open 100,1000 --follow streams,poll
bench-resting: $(STAMP)
	$(BIN)/quantum-trader bench --scenarios resting $(BENCH_RESTING_ARGS)

bench-exchange: $(STAMP)
	$(BIN)/python -m bench.exchange

# The hostile-input properties with 10,000 cases each (make test runs a short pass).
fuzz: $(STAMP)
	QT_FUZZ_EXAMPLES=10000 $(BIN)/python -m pytest -q tests/quantum_trader/test_hostile_input.py tests/quantum_trader/test_wire.py

# docs/settings.md from the Settings model's fields (tests/test_docs.py checks it is current).
docs: $(STAMP)
	$(BIN)/python -m tools.settings_doc

# The placement protocol's Promela model: constants from the code, then spin (docs/model.md).
model: $(STAMP)
	$(BIN)/python -m tools.model.constants
	$(BIN)/python -m tools.model.check

# constraints.txt: the exact versions a clean `pip install .` resolves on the image's Python,
# which the Dockerfile installs with (tests/test_install.py checks the image holds exactly these).
# Run it after changing the dependencies in pyproject.toml.
CONSTRAINTS_PYTHON ?= python3.11
constraints:
	set -e; venv=$$(mktemp -d); trap 'rm -rf "$$venv"' EXIT; \
	$(CONSTRAINTS_PYTHON) -m venv "$$venv"; \
	"$$venv/bin/pip" install --quiet .; \
	{ echo "# Exact versions of a clean 'pip install .' on Python 3.11, the image's; written by 'make constraints'."; \
	  "$$venv/bin/pip" freeze --exclude quantum-trader; } > constraints.txt

clean:
	rm -rf $(VENV) .quantum .pytest_cache
