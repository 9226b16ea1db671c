# Two commands do all the set-up on a fresh machine (Python >= 3.11 with venv):
#   make demo   install geosleuth into .venv and locate the bundled example image
#   make test   install geosleuth with its test extras into .venv and run the tests
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

demo: $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	$(BIN)/geosleuth locate

test: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/pytest

bench: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/python benchmarks/bench_speed.py
	$(BIN)/python benchmarks/evaluate.py --config prior-only

clean:
	rm -rf $(VENV) build *.egg-info benchmarks/out
