# Every target creates .venv and installs what it needs when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8999
DEMO   := examples/quickstart

.PHONY: setup demo test lint format bench-plan bench-apply bench-import bench-manifest bench-report soak clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	@bash examples/quickstart/demo.sh $(PORT)

# Tests run in TEST_WORKERS processes (pytest-xdist); most of their time is spent waiting
# on subprocesses, loopback HTTP and injected latency, so they overlap well on 2 cores.
# `make test TEST_WORKERS=0` runs them in this one process.
TEST_WORKERS ?= 2

# compileall first: the tests start the CLI some hundreds of times, and where
# PYTHONDONTWRITEBYTECODE is set each start would compile scimctl from source again.
test: $(STAMP)
	@$(BIN)/python -m compileall -q scimctl >/dev/null
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal

WORKFLOWS = $(shell find examples .github -path '*/.github/workflows/*.y*ml' 2>/dev/null)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/actionlint $(WORKFLOWS)
	$(BIN)/mypy scimctl

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench-plan: $(STAMP)
	$(BIN)/python benchmarks/plan.py

bench-apply: $(STAMP)
	$(BIN)/python benchmarks/apply.py

bench-import: $(STAMP)
	$(BIN)/python benchmarks/import_org.py

bench-manifest: $(STAMP)
	$(BIN)/python benchmarks/load_manifest.py

bench-report: $(STAMP)
	$(BIN)/python benchmarks/report_access.py

soak: $(STAMP)
	SCIMCTL_TEST_DATABASE_URL=$${SCIMCTL_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
	$(BIN)/python benchmarks/soak.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache $(DEMO)/.scimctl
