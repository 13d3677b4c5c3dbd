# Every target installs what it needs on a fresh machine (Python 3.11+, Java 17, Node 20).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
DDB_LOCAL_VERSION := 2.9.30
DDB_LOCAL_JAR := $(TOOLS)/dynamodb-local/package/emulator/DynamoDBLocal.jar
NODE_TOOLS := $(TOOLS)/node/node_modules/.bin/asl-validator
PYTEST_ARGS ?=

.PHONY: install check lint typecheck validate test test-unit test-integration demo bench clean

$(BIN)/python:
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

install: $(VENV)/.installed $(DDB_LOCAL_JAR) $(NODE_TOOLS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy layers/shared/novita_orchestrator local/novita_local tests

validate: $(VENV)/.installed $(NODE_TOOLS)
	$(BIN)/cfn-lint template.yaml
	@set -e; for f in statemachine/*.asl.json; do [ -e "$$f" ] || continue; \
		$(BIN)/python -m novita_local.asl_check "$$f" > $(TOOLS)/asl-rendered.json; \
		$(NODE_TOOLS) --json-path $(TOOLS)/asl-rendered.json; done

check: lint typecheck validate

test-unit: $(VENV)/.installed
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test: install check
	DYNAMODB_LOCAL_JAR=$(abspath $(DDB_LOCAL_JAR)) $(BIN)/pytest $(PYTEST_ARGS)

demo: $(VENV)/.installed
	$(BIN)/novita-orchestrator demo

bench: install
	DYNAMODB_LOCAL_JAR=$(abspath $(DDB_LOCAL_JAR)) $(BIN)/python -m tests.bench

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .bench
