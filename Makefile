# Two entry points, both safe on a fresh clone: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test bench validate web clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	@# the probe tests need PyTorch; take only the CPU build (+cpu, from the local wheel store): never a multi-GB CUDA build
	$(BIN)/python -m pip install -q 'torch==2.13.0+cpu' 2>/dev/null || echo "note: no CPU build of torch 2.13.0 here: the probe tests will be skipped"
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(BIN)/xpuplan compare --model telechat3-36b --chip h800 --chip ascend-910b --devices 1024 \
		--tp 4 --pp 4 --vpp 2 --seq-len 8192 --global-batch 1024 --tokens 15T

test: $(STAMP)
	$(BIN)/python -m pytest

validate: $(STAMP)
	$(BIN)/xpuplan validate

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_search.py
	$(BIN)/python benchmarks/bench_reliability.py
	$(BIN)/python benchmarks/bench_web.py
	$(BIN)/python benchmarks/bench_startup.py

web: $(STAMP)
	$(BIN)/xpuplan web

clean:
	rm -rf $(VENV) build src/*.egg-info
