# BackTAL Studio — the verbs. `make demo` and `make test` work on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install demo serve api worker test test-pg screenshots lint format bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

## Migrate a SQLite database under ./data, seed the demo set, serve on $(HOST):$(PORT).
demo: install
	BACKTAL_HOST=$(HOST) BACKTAL_PORT=$(PORT) $(BIN)/python -m server.cli seed-demo
	$(BIN)/python -m server.cli serve --with-worker --host $(HOST) --port $(PORT)

## The API and one job worker (as serve --with-worker): uploads get proxies, features, predictions.
serve: install
	$(BIN)/python -m server.cli serve --with-worker --host $(HOST) --port $(PORT)

## The API alone; run workers beside it (make worker, python -m server.worker, on any machine).
api: install
	$(BIN)/python -m server.cli serve --host $(HOST) --port $(PORT)

worker: install
	$(BIN)/python -m server.worker

## The whole test suite (PostgreSQL too when BACKTAL_TEST_PG_URL is set).
test: install
	$(BIN)/python -m pytest

## The suite with PostgreSQL at 127.0.0.1:5432 (database test, trust auth) as second backend.
test-pg: install
	BACKTAL_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test $(BIN)/python -m pytest

## Refresh docs/screenshots (the browser tests write them only when asked).
screenshots: install
	BACKTAL_WRITE_SCREENSHOTS=1 $(BIN)/python -m pytest tests/annotator_ui -q -m browser

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check server model annotator_ui tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format server model annotator_ui tests bench

bench: install
	$(BIN)/python -m bench.train_speed
	$(BIN)/python -m bench.features
	$(BIN)/python -m bench.load

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
