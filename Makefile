# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_WORKERS ?= 2

.PHONY: run test install migrate worker lint bench clean

$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/activate

install: $(BIN)/activate

migrate: install
	$(BIN)/python -m chat migrate

run: install
	$(BIN)/python -m chat migrate
	$(BIN)/python -m chat bootstrap
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python -m chat serve

worker: install
	$(BIN)/python -m chat worker

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python -m bench.run --profile short

clean:
	rm -rf $(VENV) .pytest_cache *.db
