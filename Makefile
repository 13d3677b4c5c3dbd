# Every target installs what it needs on a fresh machine (Python 3.11+, Java 17, Node 20).
SHELL := /bin/bash
# Any Python >= 3.11: the first of these names on PATH that is one (PYTHON=/path/to/python wins).
PYTHON_CANDIDATES := python3.11 python3.12 python3.13 python3.14 python3 python
ifeq ($(origin PYTHON),undefined)
PYTHON := $(firstword $(foreach p,$(PYTHON_CANDIDATES),$(shell command -v $(p) >/dev/null 2>&1 && \
	$(p) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && command -v $(p))))
endif
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
DDB_LOCAL_VERSION := 2.9.30
DDB_LOCAL_JAR := $(TOOLS)/dynamodb-local/package/emulator/DynamoDBLocal.jar
NODE_TOOLS := $(TOOLS)/node/node_modules/.bin/asl-validator
# The Node.js client examples' one dependency (standardwebhooks), installed where a user runs them.
NODE_EXAMPLES := examples/nodejs/node_modules/.package-lock.json
PYTEST_ARGS ?=
# `make test` runs the test files on two worker processes (pytest-xdist; a file stays on one worker,
# so its module fixtures are built once). TEST_WORKERS= runs them in this process instead.
TEST_WORKERS ?= -n 2 --dist loadfile
# AWS SAM CLI, pinned, in its own venv (it pins many packages of its own; kept out of .venv).
SAM_CLI_VERSION := 1.170.0
SAM_VENV := $(TOOLS)/sam
SAM := $(SAM_VENV)/bin/sam
# checkov, pinned, in its own venv too (its dependencies conflict with the dev pins).
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := $(TOOLS)/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
# sam build (BuildMethod python3.12) needs a working python3.12 on PATH: one on PATH, else pyenv's newest 3.12.
PYTHON312 ?= $(shell (python3.12 -c 'import sys' >/dev/null 2>&1 && command -v python3.12) || \
	ls -d "$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)"/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -n 1)
# sam validate needs a region, not credentials.
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: help install check lint typecheck validate sam-validate checkov build test test-unit test-integration demo bench soak docs reliability-report permissions clean python312

# `make help`: every target, one line each (the `##` comments of the rules below).
help:
	@echo "Targets (Python for the venv: $(or $(PYTHON),none >= 3.11 found; pass PYTHON=/path/to/python3.11+)):"
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{ printf "  make %-19s %s\n", $$1, $$2 }'

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "error: no Python >= 3.11 found on PATH (tried $(PYTHON_CANDIDATES));" \
		"install one or pass PYTHON=/path/to/python3.11+" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml layers/shared/requirements.txt
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# DynamoDB Local (AWS's own emulator) ships inside this npm package; only its tarball is needed.
$(DDB_LOCAL_JAR):
	mkdir -p $(TOOLS)/dynamodb-local
	cd $(TOOLS)/dynamodb-local && npm pack --silent amplify-dynamodb-simulator@$(DDB_LOCAL_VERSION) >/dev/null \
		&& tar xzf amplify-dynamodb-simulator-$(DDB_LOCAL_VERSION).tgz && rm -f *.tgz
	test -f $@

$(NODE_TOOLS): tools/package.json tools/package-lock.json
	mkdir -p $(TOOLS)/node
	cp tools/package.json tools/package-lock.json $(TOOLS)/node/
	cd $(TOOLS)/node && npm ci --silent --no-audit --no-fund
	touch $@

$(NODE_EXAMPLES): examples/nodejs/package.json examples/nodejs/package-lock.json
	cd examples/nodejs && npm ci --silent --no-audit --no-fund
	touch $@

python312:
	@test -n "$(PYTHON312)" && "$(PYTHON312)" -c 'import sys; assert sys.version_info[:2] == (3, 12)' || { \
		echo "error: no python3.12 found (on PATH or under pyenv's versions/3.12*); sam build needs one:" \
		     "install it (e.g. 'pyenv install 3.12') or pass PYTHON312=/path/to/python3.12" >&2; exit 1; }

$(SAM): | python312
	"$(PYTHON312)" -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)
	touch $@

$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

install: $(VENV)/.installed $(DDB_LOCAL_JAR) $(NODE_TOOLS) $(NODE_EXAMPLES) $(SAM) $(CHECKOV) ## everything the targets need: .venv, DynamoDB Local, Node tools, SAM CLI, checkov

lint: $(VENV)/.installed ## ruff, ruff format --check, the committed-key scan
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/check_no_keys.py

typecheck: $(VENV)/.installed ## mypy --strict (the layer, local/, tests, each function)
	$(BIN)/mypy layers/shared/novita_orchestrator local/novita_local tests
	@# Every function's entry is functions/<name>/app.py: one module name, so one mypy run each.
	@set -e; for f in functions/*/app.py; do $(BIN)/mypy --no-error-summary "$$f"; done

validate: $(VENV)/.installed $(NODE_TOOLS) ## cfn-lint, the state machines' path guarantees, asl-validator, statelint
	$(BIN)/cfn-lint template.yaml
	@# Every path a state machine reads must be guaranteed: AWS fails the execution where moto forgives.
	$(BIN)/python -m novita_local.asl_paths statemachine/*.asl.json
	@set -e; for f in statemachine/*.asl.json; do [ -e "$$f" ] || continue; \
		$(BIN)/python -m novita_local.asl_check "$$f" > $(TOOLS)/asl-rendered.json; \
		$(NODE_TOOLS) --json-path $(TOOLS)/asl-rendered.json; \
		$(BIN)/statelint $(TOOLS)/asl-rendered.json; done

sam-validate: $(SAM) ## sam validate --lint
	$(SAM) validate --lint --template-file template.yaml

# checkov on the template SAM translates (the roles, stages and event sources a deploy creates);
# every check that does not apply is in tools/checkov-skips.yaml with its reason.
checkov: $(VENV)/.installed $(SAM) $(CHECKOV) ## checkov on the template SAM translates
	$(BIN)/python -m novita_local.checkov_run --checkov $(CHECKOV)

# Builds the functions and the layer (arm64 wheels) without Docker, with the python3.12 found above.
build: $(SAM) python312 ## sam build (arm64 wheels, no Docker)
	PATH="$(dir $(PYTHON312)):$$PATH" $(SAM) build --template-file template.yaml

check: lint typecheck validate sam-validate checkov ## lint + typecheck + validate + sam-validate + checkov

# The template tests read SAM's translation (the SAM CLI's venv) and run checkov.
test-unit: $(VENV)/.installed $(SAM) $(CHECKOV) ## the unit tests only
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

# PERMISSION_PROOF=full: every tier runs, so every granted action must be used by some recorded call
# or explained in tools/permissions-unused.yaml (tests/conftest.py; a call a role denies always fails).
test: install check build ## install, check, build, then every test (about 8 minutes)
	PERMISSION_PROOF=full DYNAMODB_LOCAL_JAR=$(abspath $(DDB_LOCAL_JAR)) $(BIN)/pytest $(TEST_WORKERS) $(PYTEST_ARGS)

demo: $(VENV)/.installed ## the end-to-end demo, offline, in about ten seconds
	$(BIN)/novita-orchestrator demo

bench: install ## the benchmarks (ratios and distributions, mean and p90)
	DYNAMODB_LOCAL_JAR=$(abspath $(DDB_LOCAL_JAR)) $(BIN)/python -m tests.bench

# Outside CI: the load run at full size (200 operations at once), with one-second and with realistic
# (30-120 s) boots: about five minutes. `make test` runs the same test with 30 operations, 1 s boots.
soak: $(VENV)/.installed ## the load run at full size (about five minutes)
	LOAD_OPERATIONS=200 LOAD_BOOTS=1s,realistic $(BIN)/pytest tests/reliability/test_load.py -s $(PYTEST_ARGS)

# Generated documents are written here, never by a test run: the diagrams of docs/ARCHITECTURE.md
# (from the ASL and the imports) and the fault matrix's table (a full run of tests/reliability/).
docs: $(VENV)/.installed ## regenerate the diagrams of docs/ARCHITECTURE.md
	$(BIN)/python -m novita_local.diagrams docs/ARCHITECTURE.md

reliability-report: install ## the fault matrix's table in docs/RELIABILITY.md
	RELIABILITY_REPORT=docs/RELIABILITY.md DYNAMODB_LOCAL_JAR=$(abspath $(DDB_LOCAL_JAR)) \
		$(BIN)/pytest tests/reliability/test_fault_matrix.py $(PYTEST_ARGS)

# docs/PERMISSIONS.md from the AWS calls the engine tiers make (workflow, API and CLI, trigger,
# dispatcher, fault matrix): each role's grants with the calls that used them.
permissions: install ## docs/PERMISSIONS.md from the AWS calls the engine tiers make
	PERMISSION_CALLS=$(TOOLS)/permission-calls.json DYNAMODB_LOCAL_JAR=$(abspath $(DDB_LOCAL_JAR)) \
		$(BIN)/pytest tests/workflow tests/e2e tests/reliability $(PYTEST_ARGS)
	$(BIN)/python -m novita_local.permissions $(TOOLS)/permission-calls.json docs/PERMISSIONS.md

clean: ## remove .venv, .tools and caches
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .bench examples/nodejs/node_modules
