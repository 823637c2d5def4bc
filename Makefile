VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit bench

$(VENV)/.installed: pyproject.toml scripts/bootstrap.sh
	VENV=$(VENV) bash scripts/bootstrap.sh

demo: $(VENV)/.installed
	$(BIN)/dicomref demo

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.installed
	$(BIN)/mypy

unit: $(VENV)/.installed
	$(BIN)/python tests/real_data.py  # real files from PyPI, fetched outside the namespace
	scripts/in-netns.sh $(BIN)/pytest -n 2

test: lint typecheck unit

bench: $(VENV)/.installed
	$(BIN)/python bench/scan.py
	$(BIN)/python bench/catalog_lookup.py
