# Two entry points on a fresh machine (only Python 3.11 needed):
#   make demo   create .venv, install, write the synthetic sample, train, evaluate
#   make test   create .venv if needed, install, run the graph-mode test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

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

test: $(STAMP)
	$(PY) -m pytest -q tests

clean:
	rm -rf runs data/sample
