# Two entry points on a fresh machine (only Python 3.11 needed):
#   make demo   create .venv, install, write the synthetic sample, train, evaluate
#   make test   create .venv if needed, install, run the graph-mode test suite
#   make test-fast  the same without the tests marked slow (a developer's lane)
#   make gpu-check  verify a GPU machine (says so and exits 0 without one)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast install clean gpu-check

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) scripts/make_sample_data.py --output_dir=data/sample
	$(PY) scripts/train_catdog.py --flagfile=data/catdog_sample.flags
	$(PY) scripts/eval_catdog.py --flagfile=data/catdog_sample.flags
	@$(VENV)/bin/tensorboard --version >/dev/null && \
	  echo "TensorBoard: $(VENV)/bin/tensorboard --logdir runs/catdog_sample"

test: $(STAMP)
	$(PY) -m pytest -q tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

# On a machine with an NVIDIA GPU: its own environment with the CUDA
# libraries, the test suite with the GPU visible, then LeNet-5 in fp32 and
# fp16 with a device check (JSON in runs/gpu_check.json). Elsewhere: says so.
GPU_VENV ?= .venv-gpu
GPU_CHECK_DATA ?= data/sample
gpu-check:
	@if ! command -v nvidia-smi >/dev/null 2>&1; then \
	  echo "no NVIDIA GPU here (nvidia-smi not found): nothing to check"; \
	  exit 0; fi; \
	set -e; $(PYTHON) -m venv $(GPU_VENV); \
	$(GPU_VENV)/bin/pip install --quiet -e '.[gpu,test]'; \
	$(GPU_VENV)/bin/python -m pytest -q tests; \
	if [ "$(GPU_CHECK_DATA)" = data/sample ]; then \
	  $(GPU_VENV)/bin/python scripts/make_sample_data.py --output_dir=data/sample; fi; \
	$(GPU_VENV)/bin/python scripts/gpu_check.py --data_dir=$(GPU_CHECK_DATA) \
	  --json=runs/gpu_check.json

clean:
	rm -rf runs data/sample
