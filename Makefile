# Two commands do all the set-up on a fresh machine (Python >= 3.11 with venv):
#   make demo   install geosleuth (all cues) into .venv and locate the bundled example image
#   make test   install geosleuth with its test extras into .venv and run the tests in a fresh HOME
# Both first install the system packages (`system-deps`) when run as root on Debian and a
# Tesseract script model is missing; elsewhere, install Tesseract and its script packs yourself
# (tests that need them skip when absent).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test test-fast bench clean system-deps system-packages

# Tesseract script models read the text of signs (the `scripts` OCR reader); Noto fonts draw the
# rendered-sign tests; Chromium (Debian's, so Playwright needs no browser download) runs the web
# app's browser test.
SCRIPTS = latn cyrl grek arab hebr deva beng thai khmr geor armn hang jpan hans hant
MODELS = Latin Cyrillic Greek Arabic Hebrew Devanagari Bengali Thai Khmer Georgian Armenian Hangul Japanese HanS HanT
system-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q tesseract-ocr tesseract-ocr-osd \
	  $(foreach s,$(SCRIPTS),tesseract-ocr-script-$(s)) fonts-dejavu-core fonts-noto-core fonts-noto-cjk \
	  chromium chromium-driver

system-packages:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  have="$$(tesseract --list-langs 2>/dev/null)"; \
	  for m in $(MODELS) osd; do echo "$$have" | grep -qx "$$m" || { $(MAKE) system-deps; break; }; done; fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

demo: $(BIN)/python system-packages
	$(BIN)/python -m pip install -q -e ".[all]"
	$(BIN)/geosleuth locate

# The suite runs as on a fresh machine: an empty HOME, XDG folders and geosleuth cache folder,
# made for the run and removed after it, so every first-run path is built and tested each time.
test: $(BIN)/python system-packages
	$(BIN)/python -m pip install -q -e ".[test]"
	fresh="$$(mktemp -d)" && trap 'rm -rf "$$fresh"' EXIT && \
	  HOME="$$fresh" XDG_CACHE_HOME="$$fresh/.cache" XDG_CONFIG_HOME="$$fresh/.config" \
	  XDG_DATA_HOME="$$fresh/.local/share" XDG_STATE_HOME="$$fresh/.local/state" \
	  GEOSLEUTH_CACHE_DIR="$$fresh/.cache/geosleuth" $(abspath $(BIN))/pytest

# The fast tier, for the edit-test loop: every test but the slow, OCR, browser and training ones
# (the suite runs in a cache folder of its own either way).
test-fast: $(BIN)/python
	@test -x $(BIN)/pytest || $(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/pytest -m "not slow and not ocr and not browser and not training"

bench: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/python -m benchmarks.bench_speed
	$(BIN)/python -m benchmarks.evaluate --config prior-only

clean:
	rm -rf $(VENV) build *.egg-info benchmarks/out .pytest_cache
