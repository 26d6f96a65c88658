# Carrel: `make run` sets up and starts everything; `make test` runs the whole suite.
# Both create .venv on first use. Needs Python >= 3.11 and a C compiler (llama.cpp builds from source).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/carrel
PYTEST_ARGS ?=
# llama.cpp is compiled for a portable AVX2 CPU, not -march=native: a native build on a CPU
# with AMX (Xeon Sapphire Rapids and later) crashed in ggml's AMX kernels under virtualization.
# The wheel is cached under a key made of its version and these flags, so changing them
# rebuilds it (pip's own cache would silently reuse a wheel built with other flags).
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
LLAMA_VERSION := $(shell sed -n 's/.*"llama-cpp-python==\([^"]*\)".*/\1/p' pyproject.toml)
LLAMA_WHEELS := $(HOME)/.cache/carrel/llama-cpp-python-$(LLAMA_VERSION)-$(shell printf '%s' '$(LLAMA_CMAKE_ARGS)' | sha1sum | cut -c1-12)

.PHONY: run test check lint typecheck browser-deps ocr-deps bench clean

$(VENV)/.installed-run: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Carrel needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@if ! ls $(LLAMA_WHEELS)/*.whl >/dev/null 2>&1; then \
	  echo "Building llama.cpp (llama-cpp-python $(LLAMA_VERSION), a few minutes, once)"; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip wheel --quiet --no-deps --no-cache-dir \
	    --no-binary llama-cpp-python -w $(LLAMA_WHEELS) "llama-cpp-python==$(LLAMA_VERSION)"; \
	fi
	$(PY) -m pip install --quiet $(LLAMA_WHEELS)/*.whl
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-run
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

run: $(VENV)/.installed-run
	$(PY) manage.py runcarrel

# Debian's Chromium drives the browser tests (Playwright never downloads a browser here).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium not found and no root: browser tests will be skipped (apt-get install chromium)."; fi; \
	fi

# Debian's Tesseract reads scanned PDF pages (research/library/ocr.py); without it those
# pages are named in the document's warnings and `make run` says how to add it.
ocr-deps:
	@if ! tesseract --list-langs 2>/dev/null | grep -qx eng; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq tesseract-ocr tesseract-ocr-eng >/dev/null; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -qq && sudo apt-get install -y -qq tesseract-ocr tesseract-ocr-eng >/dev/null; \
	  else echo "Tesseract not found and no root: OCR tests will be skipped (apt-get install tesseract-ocr tesseract-ocr-eng)."; fi; \
	fi

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(VENV)/bin/mypy .

check: lint typecheck

# The whole suite on SQLite, then on PostgreSQL when it answers at PG_TEST_URL (required in CI).
test: $(VENV)/.installed-dev browser-deps ocr-deps check
	$(PY) -m pytest $(PYTEST_ARGS)
	@if $(PY) -m workspace.dbcheck "$(PG_TEST_URL)"; then \
	  echo "== PostgreSQL pass ($(PG_TEST_URL))"; \
	  DATABASE_URL="$(PG_TEST_URL)" $(PY) -m pytest $(PYTEST_ARGS); \
	elif [ -n "$$CI" ]; then echo "CI needs PostgreSQL at $(PG_TEST_URL)"; exit 1; \
	else echo "PostgreSQL not reachable at $(PG_TEST_URL): skipped the PostgreSQL pass."; fi

bench: $(VENV)/.installed-dev
	$(PY) -m bench

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache .mypy_cache .ruff_cache
