# The README's two commands: `make demo` (the main job) and `make test` (everything CI runs).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck docs unit openai-oldest langchain-oldest bench clean

# The first-party adapters are distributions of their own, installed after the core.
# The ui extra (the web UI's server) is part of the main job: `make demo` installs it too.
$(STAMP): pyproject.toml integrations/openai/pyproject.toml integrations/langchain/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ui,otlp,wandb]'
	$(BIN)/python -m pip install --quiet -e integrations/openai
	$(BIN)/python -m pip install --quiet -e 'integrations/langchain[test]'
	touch $(STAMP)

# The oldest openai the adapter supports (integrations/openai/README.md), in a venv of its
# own inside .venv: its API differs (no Responses API, parse only in beta and built on
# create). openai < 1.55.3 passes `proxies` to httpx, which httpx 0.28 removed: pin it.
OLDEST       := $(VENV)/openai-oldest
OLDEST_STAMP := $(OLDEST)/.installed
$(OLDEST_STAMP): pyproject.toml integrations/openai/pyproject.toml
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install --quiet --upgrade pip
	$(OLDEST)/bin/python -m pip install --quiet 'openai==1.40.8' 'httpx<0.28' -e '.[test]'
	$(OLDEST)/bin/python -m pip install --quiet --no-deps -e integrations/openai
	touch $(OLDEST_STAMP)

# The oldest langchain-core the LangChain adapter supports (integrations/langchain/README.md),
# with the langchain-openai and langgraph releases of that time (newer ones need a newer core;
# langgraph-checkpoint's own bound admits releases that fail on core 1.0.0: pinned).
LC_OLDEST       := $(VENV)/langchain-oldest
LC_OLDEST_STAMP := $(LC_OLDEST)/.installed
$(LC_OLDEST_STAMP): pyproject.toml integrations/openai/pyproject.toml integrations/langchain/pyproject.toml
	$(PYTHON) -m venv $(LC_OLDEST)
	$(LC_OLDEST)/bin/python -m pip install --quiet --upgrade pip
	$(LC_OLDEST)/bin/python -m pip install --quiet 'langchain-core==1.0.0' 'langchain-openai==1.0.1' \
		'langgraph==1.0.0' 'langgraph-checkpoint==2.1.2' 'langgraph-prebuilt==1.0.1' \
		-e '.[test]' -e integrations/openai
	$(LC_OLDEST)/bin/python -m pip install --quiet --no-deps -e integrations/langchain
	touch $(LC_OLDEST_STAMP)

demo: $(STAMP)
	$(BIN)/tracekit demo

test: lint typecheck unit openai-oldest langchain-oldest docs

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --strict tests/typing/api.py

# coverage starts before pytest, so the pytest11 plugin's import of tracekit is measured too
unit: $(STAMP)
	$(BIN)/python -m coverage run -m pytest
	$(BIN)/python -m coverage report

openai-oldest: $(OLDEST_STAMP)
	$(OLDEST)/bin/python -m pytest -q -p no:cacheprovider tests/integrations/openai

langchain-oldest: $(LC_OLDEST_STAMP)
	$(LC_OLDEST)/bin/python -m pytest -q -p no:cacheprovider tests/integrations/langchain

docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir $(VENV)/site

bench: $(STAMP)
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/memory_bound.py
	$(BIN)/python benchmarks/sqlite_store.py
	$(BIN)/python benchmarks/openai_overhead.py
	$(BIN)/python benchmarks/langchain_overhead.py
	$(BIN)/python benchmarks/ui_table.py
	$(BIN)/python benchmarks/ui_timeline.py
	$(BIN)/python benchmarks/otlp_throughput.py
	$(BIN)/python benchmarks/redaction.py
	$(BIN)/python benchmarks/defaults.py
	$(BIN)/python benchmarks/exit_hung_backend.py

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache
