# Two commands do all the set-up on a fresh machine (Python >= 3.11 with venv):
#   make demo   install geosleuth (all cues) into .venv and locate the bundled example image
#   make test   install geosleuth with its test extras into .venv and run the tests
# Optional system packages (tests that need them skip when absent): `make system-deps` (Debian).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test bench clean system-deps

# Tesseract with script models and CJK fonts: the optional OCR backend and the rendered-sign tests.
# Chromium (Debian's, so Playwright needs no browser download): the web app's browser test.
system-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q tesseract-ocr tesseract-ocr-osd \
	  tesseract-ocr-script-latn tesseract-ocr-script-cyrl tesseract-ocr-script-grek \
	  tesseract-ocr-script-jpan tesseract-ocr-script-hang fonts-dejavu-core fonts-noto-cjk \
	  chromium chromium-driver

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

demo: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[all]"
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
