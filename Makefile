# The two quick-start commands. Each sets up what it needs: a virtual environment
# with the package and its test extras, and Debian's Fashion-MNIST files where apt exists.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= runs/demo
PYTEST_WORKERS ?= 2
FASHION_MNIST := /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-all test-newest lint data browser install clean

install: $(VENV)/.installed

# The exact versions the tests passed with (constraints.txt; the tested matrix is in the README).
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

# Fashion-MNIST's IDX files from Debian's dataset-fashion-mnist; elsewhere tfds downloads it.
data:
	@if [ ! -d $(FASHION_MNIST) ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    ( $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist ) \
	      || echo "note: could not install dataset-fashion-mnist; tfds will fetch Fashion-MNIST"; \
	  else echo "note: no apt-get here; tfds will fetch Fashion-MNIST"; fi; \
	fi

demo: install data
	$(PY) train.py --config configs/demo_fashion_mnist.py --workdir $(DEMO_DIR) \
	  --config.dataset.download=True
	@echo "Sample grid: $$(ls -1 $(DEMO_DIR)/samples/*.png | tail -n 1)"
	@echo "fd_fmnist (10k EMA samples against the test split): $$(tail -n 1 $(DEMO_DIR)/eval.jsonl)"

# ruff's lint and format checks (pyproject.toml [tool.ruff]); `ruff format .` fixes the format;
# and no function in gan_jax/ longer than 60 lines.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) .ci/function_lengths.py gan_jax --max 60 --top 3

# The 25 slowest tests are listed at the end: the suite is kept near 15 minutes on 2 cores.
test: install data lint
	JAX_PLATFORMS=cpu $(PY) -m pytest -q -n $(PYTEST_WORKERS) -m "not slow" --durations=25 tests

# Every test, including those marked slow (the other configs' end-to-end runs, StyleGAN2 resume
# and style figures, every loss pair, Inception end to end, ...: about 8 more minutes).
# The explorer's page is checked in a real browser (tests/tools/test_explore.py, slow): Debian's
# headless Chromium, where apt exists; elsewhere that one test skips and says why.
browser:
	@if ! command -v chromium-headless-shell >/dev/null 2>&1 && ! command -v chromium >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    ( $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium-headless-shell ) \
	      || echo "note: could not install chromium-headless-shell; the browser test will skip"; \
	  else echo "note: no apt-get here; the browser test will skip"; fi; \
	fi

test-all: install data browser
	JAX_PLATFORMS=cpu $(PY) -m pytest -q -n $(PYTEST_WORKERS) tests

# The newest releases of every dependency, past pyproject's upper bounds too, in their own
# venv, with a fast subset of the tests: an upstream change that breaks gan_jax shows here first.
NEWEST_VENV ?= .venv-newest
NEWEST_TESTS ?= tests/training/test_losses.py tests/training/test_regularizers.py tests/training/test_schedules.py \
	tests/run/test_checkpoint.py tests/training/test_train_step.py tests/models
test-newest: data
	rm -rf $(NEWEST_VENV)
	$(PYTHON) -m venv $(NEWEST_VENV)
	$(NEWEST_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade \
	  $$($(PYTHON) -c "import re, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
	    print(' '.join(re.split('[<>=!~; ]', d)[0] for d in p['dependencies'] + p['optional-dependencies']['test']))")
	$(NEWEST_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(NEWEST_VENV)/bin/python -m pip freeze --disable-pip-version-check | grep -iE '^(jax|jaxlib|flax|optax|orbax-checkpoint|tensorflow-datasets|numpy)=='
	JAX_PLATFORMS=cpu $(NEWEST_VENV)/bin/python -m pytest -q -n $(PYTEST_WORKERS) -m "not slow" $(NEWEST_TESTS)

clean:
	rm -rf $(VENV) $(NEWEST_VENV) runs .pytest_cache
