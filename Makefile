# MSaaS: music separation as a service. `make help` lists the targets.

PYTHON ?= python3
VENV ?= .venv
PORT ?= 5000
WORKERS ?= 1
REDIS_PORT ?= 6390
S3_PORT ?= 9000
DATA_DIR ?= .data
MODELS_DIR ?= .models
PYTEST_ARGS ?=
# The browser the web page's test drives (Debian's chromium package).
CHROMIUM ?= /usr/bin/chromium
BENCH_ARGS ?=

BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv tiny-model run test browser bench lint format clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

venv: $(INSTALLED) ## Create .venv and install the project with its dev tools

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

tiny-model: $(INSTALLED) ## Write the small random-weight model "tiny" into .models/
	$(BIN)/python -m worker.models tiny $(MODELS_DIR)

run: $(INSTALLED) ## Run Redis, S3, the API on PORT and WORKERS workers; Ctrl-C stops all
	mkdir -p $(DATA_DIR)
	PATH="$(CURDIR)/$(BIN):$$PATH" API_PORT=$(PORT) REDIS_PORT=$(REDIS_PORT) \
	S3_PORT=$(S3_PORT) DATA_DIR=$(DATA_DIR) \
	REDIS_URL=redis://127.0.0.1:$(REDIS_PORT)/0 S3_ENDPOINT=127.0.0.1:$(S3_PORT) \
	S3_ACCESS_KEY=$${S3_ACCESS_KEY:-msaas} S3_SECRET_KEY=$${S3_SECRET_KEY:-msaas-dev-secret} \
	$(BIN)/honcho start -f Procfile -p 9100 -c worker=$(WORKERS)

test: $(INSTALLED) browser ## Run the test suite (starts its own Redis and S3 servers)
	CHROMIUM=$(CHROMIUM) $(BIN)/pytest $(PYTEST_ARGS)

browser: ## Install Debian's chromium for the web page's test, when apt-get can (idempotent)
	@if [ -x "$(CHROMIUM)" ]; then \
		echo "browser: using $(CHROMIUM)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "browser: installing Debian's chromium with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
			|| echo "browser: apt-get failed; the web page's test will be skipped"; \
	else \
		echo "browser: no $(CHROMIUM) and no root apt-get; the web page's test will be skipped"; \
	fi

bench: $(INSTALLED) ## Service vs Demucs CLI vs bare model, a few minutes (BENCH_ARGS=--full: ~16 min)
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(INSTALLED) ## Check style with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED) ## Reformat the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove the virtual environment, local data and models
	rm -rf $(VENV) $(DATA_DIR) $(MODELS_DIR) .pytest_cache .ruff_cache
