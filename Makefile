# Every target creates .venv and installs what it needs when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8999
DEMO   := examples/quickstart
# Release artefacts, and the virtual environment `make test` installs them into.
DIST     := dist
LOCK     := constraints.txt
TESTVENV := .venv-test

.PHONY: setup demo test test-dev test-fast dist lock lint format bench-plan bench-apply bench-import bench-manifest bench-report soak clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	@bash examples/quickstart/demo.sh $(PORT)

# Tests run in TEST_WORKERS processes (pytest-xdist); most of their time is spent waiting
# on subprocesses, loopback HTTP and injected latency, so 4 overlap well on 2 cores (the
# suite took 9 min 39 s with 2, 7 min 20 s with 4, on the same idle machine).
# `make test TEST_WORKERS=0` runs them in this one process.
TEST_WORKERS ?= 4
PYTEST_ARGS  ?=

# What users install is what is tested: the wheel from `make dist`, installed into a
# fresh virtual environment with exactly the locked dependencies (hashes checked), and
# the suite run from a directory outside the checkout, so nothing can import the
# sources (tests/conftest.py refuses to run if it could).
test: dist
	rm -rf $(TESTVENV)
	$(PYTHON) -m venv $(TESTVENV)
	$(TESTVENV)/bin/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(TESTVENV)/bin/python -m pip install --quiet --no-deps $(DIST)/scimctl-*.whl
	$(TESTVENV)/bin/python -m pip check
	sed -e '/--hash/d' -e 's/ \\$$//' $(LOCK) >$(TESTVENV)/pins.txt
	$(TESTVENV)/bin/python -m pip install --quiet -c $(TESTVENV)/pins.txt "$$(ls $(DIST)/scimctl-*.whl)[dev]"
	$(TESTVENV)/bin/python -m compileall -q $(TESTVENV)/lib >/dev/null
	cd "$$(mktemp -d)" && SCIMCTL_TEST_INSTALLED=1 \
	  SCIMCTL_TEST_WHEEL="$$(ls $(CURDIR)/$(DIST)/scimctl-*.whl)" \
	  SCIMCTL_TEST_SDIST="$$(ls $(CURDIR)/$(DIST)/scimctl-*.tar.gz)" \
	  $(CURDIR)/$(TESTVENV)/bin/python -m pytest -q -p no:cacheprovider \
	  --rootdir $(CURDIR) -c $(CURDIR)/pyproject.toml -n $(TEST_WORKERS) --dist worksteal \
	  $(PYTEST_ARGS) $(CURDIR)/tests

# The unit tests alone (tests/unit: no network, no subprocess; its conftest refuses
# both), in one process: the quickest loop while editing.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) tests/unit

# The quick loop while editing: the suite against the editable install in .venv.
# compileall first: the tests start the CLI some hundreds of times, and where
# PYTHONDONTWRITEBYTECODE is set each start would compile scimctl from source again.
test-dev: $(STAMP)
	@$(BIN)/python -m compileall -q scimctl >/dev/null
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# The wheel and sdist of this commit, the dependency lock, and their sha256 sums.
dist: $(STAMP)
	rm -rf $(DIST)
	$(BIN)/python -m build --outdir $(DIST) . >$(VENV)/build.log 2>&1 || { cat $(VENV)/build.log; exit 1; }
	cp $(LOCK) $(DIST)/constraints.txt
	cd $(DIST) && sha256sum scimctl-*.whl scimctl-*.tar.gz constraints.txt >SHA256SUMS
	@cat $(DIST)/SHA256SUMS

# Re-resolve the runtime dependencies; the workflow examples carry the same lock.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --universal \
	  --python-version 3.11 --no-header --output-file $(LOCK)
	cp $(LOCK) examples/github-actions/.github/scimctl/constraints.txt
	cp $(LOCK) examples/gitlab-ci/scimctl/constraints.txt

WORKFLOWS = $(shell find examples .github -path '*/.github/workflows/*.y*ml' 2>/dev/null)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/actionlint $(WORKFLOWS)
	$(BIN)/mypy scimctl tests

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench-plan: $(STAMP)
	$(BIN)/python benchmarks/plan.py
	$(BIN)/python benchmarks/plan.py --live 50000 --managed 20000 --tokens 1,10 --window 60 --apply

bench-plan-rfc: $(STAMP)
	$(BIN)/python benchmarks/plan_rfc.py

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
	rm -rf $(VENV) $(TESTVENV) $(DIST) .pytest_cache .ruff_cache $(DEMO)/.scimctl
