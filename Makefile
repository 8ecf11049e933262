# Two commands matter: `make run` and `make test`. Everything else is a step they call.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
BIN       := $(VENV)/bin
PY        := $(BIN)/python
RASA      := $(BIN)/rasa
STAMPS    := .make
MODEL     := models/supportbot.tar.gz
TRAIN_INPUTS := config.yml domain.yml $(shell find data -name '*.yml' 2>/dev/null | sort)
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export RASA_TELEMETRY_ENABLED := false

.PHONY: help install train validate db run lint test test-unit test-e2e test-stories browser bench clean

help:
	@echo "make run    - install, train if needed, create the database, start the assistant"
	@echo "make test   - install, validate data, train if needed, run every test"
	@echo "make bench  - NLU, FAQ, speed and soak benchmarks (reports in docs/benchmarks/; SOAK_MINUTES=2 for a short soak)"
	@echo "make lint   - ruff (lint + import order) and mypy (strict: supportbot/core, supportbot/db, actions)"
	@echo "steps: install train validate db test-unit test-e2e test-stories browser clean"

# --- install: a Python 3.10 venv with the exact pins of requirements/lock.txt -------------
# runtime (requirements/runtime.in) and development tools (requirements/dev.in: pytest,
# playwright, ruff, mypy, ...): `make test` needs both.
install: $(STAMPS)/installed
$(STAMPS)/installed: requirements/runtime.in requirements/dev.in requirements/lock.txt requirements/no-deps.txt pyproject.toml scripts/find_python310.sh
	@py=$$(scripts/find_python310.sh) || exit 1; \
	if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)'; then \
	  echo "$(VENV) is not Python 3.10: recreating it"; rm -rf $(VENV); fi; \
	if [ ! -x $(PY) ]; then echo "creating $(VENV) with $$py"; "$$py" -m venv $(VENV) || exit 1; fi
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip==24.0"
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/runtime.in -r requirements/dev.in \
	  -c requirements/lock.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements/no-deps.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@mkdir -p $(STAMPS) && touch $@
	@echo "installed: $$($(RASA) --version 2>/dev/null | grep -E '^Rasa Version' | tr -s ' ')"

# --- train: only when data, config or domain changed --------------------------------------
train: $(MODEL)
$(MODEL): $(TRAIN_INPUTS) $(STAMPS)/installed $(shell find supportbot/nlu -name '*.py' 2>/dev/null) \
  supportbot/core/vocabulary.py supportbot/core/refund_reasons.py
	$(RASA) train --data data --config config.yml --domain domain.yml --out models \
	  --fixed-model-name supportbot --skip-validation
	@touch $@

validate: $(STAMPS)/installed
	$(RASA) data validate --data data --domain domain.yml --config config.yml

db: $(STAMPS)/installed
	$(BIN)/supportbot db upgrade
	$(BIN)/supportbot db demo --if-empty

# --- run: the supervised process group (Ctrl-C stops all) -----------------------------------
# SUPPORTBOT_DEV_LEAD=1: the review console creates a development lead account (and prints its
# password) when it has no user yet; `make run SUPPORTBOT_DEV_LEAD=0` does not
run: install train db
	SUPPORTBOT_DEV_LEAD=$${SUPPORTBOT_DEV_LEAD-1} $(BIN)/supportbot run

# --- test: every layer; pytest runs last so its summary line closes the output --------------
browser:
	@scripts/ensure_browser.sh

test-stories: train
	$(RASA) test core --stories tests/ --model $(MODEL) --endpoints endpoints.yml \
	  --fail-on-prediction-errors --out results/stories

# --- lint: configured in pyproject.toml ([tool.ruff], [tool.mypy]); .ci/run runs it first --------
lint: install
	$(BIN)/ruff check supportbot actions tests benchmarks scripts
	$(BIN)/mypy

test-unit: install
	$(BIN)/pytest tests -m "not e2e and not browser"

test-e2e: install train browser
	$(BIN)/pytest tests -m "e2e or browser"

test: install validate train browser test-stories
	$(BIN)/pytest tests

bench: install train
	$(PY) benchmarks/nlu_bench.py --reuse-default --full-data
	$(PY) benchmarks/nlu_bench.py --latency
	$(PY) benchmarks/faq_bench.py
	$(PY) benchmarks/speed_bench.py --all
	$(PY) benchmarks/soak_bench.py --conversations 50 --minutes $${SOAK_MINUTES:-10}
	$(PY) benchmarks/review_bench.py  # needs PostgreSQL at 127.0.0.1:5432 (SUPPORTBOT_BENCH_POSTGRES_URL)
	$(PY) benchmarks/analytics_bench.py

clean:
	rm -rf $(STAMPS) models results .rasa
