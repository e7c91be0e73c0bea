# One virtual environment (.venv) for everything.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FASHION_MNIST := /usr/share/datasets/fashion-mnist

.PHONY: install test test-all test-eigen demo bench bench-torch torch-env lint docs docs-serve fashion-mnist reproduce clean

install: $(STAMP)

# uv installs the same packages as pip, bytecode compiled as pip does, in
# a third of the time (parallel downloads and compiling); pip does it
# where uv cannot.
$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip install --python $(PY) --quiet --compile-bytecode \
	    --upgrade pip setuptools wheel -e '.[dev]' || { \
	  echo "note: uv failed; installing with pip"; \
	  $(PY) -m pip install --quiet --upgrade pip setuptools wheel && \
	  $(PY) -m pip install --quiet -e '.[dev]'; }
	touch $(STAMP)

# Fashion-MNIST from Debian's package: the offline dataset of the demo and
# of the integration test. Skipped (with a note) where apt is unavailable.
fashion-mnist:
	@if [ -f $(FASHION_MNIST)/t10k-images-idx3-ubyte.gz ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -q >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist >/dev/null; \
	else echo "note: install Debian's dataset-fashion-mnist or pass --data_dir"; fi

# The suite on every core (pytest-xdist): each test's files are in its own
# temporary directory. The package's bytecode is written first: where
# PYTHONDONTWRITEBYTECODE is set (as on CI machines), each of the suite's
# Python processes would compile it again (0.7 s of CPU each).
# `make test` (what CI runs) skips the tests marked `large`: kills, lost
# peers, the search and the wheel end to end, each training in processes
# of its own. `make test-all` runs them too: before you change training,
# tuning, serving or the programs.
PYTEST_ARGS ?=

test: install fashion-mnist
	$(PY) -m compileall -q bnorder_tf trainers tuning tests
	$(PY) -m pytest -n auto --dist worksteal $(PYTEST_ARGS)

test-all:
	$(MAKE) test PYTEST_ARGS="-ra --large"
	$(MAKE) test-eigen PYTEST_ARGS="--large"

# The numerics-sensitive tests with oneDNN off (the Eigen kernels
# TensorFlow runs on CPUs without AVX-512): the statistics against their
# NumPy/SciPy references (engine, moments, taps), the blocks, activations
# and weight decay against theirs, and the resume-equals-no-kill
# guarantee. The callback and precision tests feed the same engine
# through fit and mixed precision, and the models' tests check their
# structure; they run in the first mode only.
NUMERICS_TESTS := tests/stats/test_engine.py tests/stats/test_moments.py \
	tests/stats/test_taps.py tests/layers/test_blocks.py \
	tests/layers/test_activations.py tests/layers/test_regularizers.py \
	tests/training/test_faults.py::test_resumed_run_equals_an_uninterrupted_one

test-eigen: install
	TF_ENABLE_ONEDNN_OPTS=0 $(PY) -m pytest -q -n auto --dist worksteal $(NUMERICS_TESTS) $(PYTEST_ARGS)

demo: install fashion-mnist
	$(PY) trainers/demo.py

# The reproduction study (hours on a CPU): resumes where it stopped.
reproduce: install fashion-mnist
	$(PY) reproduction/fashion_mnist/study.py

bench: install
	$(PY) benchmarks/bench_stats.py
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_loop.py

# PyTorch for the side-by-side benchmark, in an environment of its own
# (never a dependency of the package): the CPU build pinned here.
TORCH_VENV := .venv-torch
TORCH_VERSION := 2.13.0

torch-env: $(TORCH_VENV)/.installed

$(TORCH_VENV)/.installed:
	$(PYTHON) -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/pip install --quiet torch==$(TORCH_VERSION) numpy
	touch $@

bench-torch: install torch-env fashion-mnist
	$(PY) benchmarks/bench_torch.py --bf16

LINTED := bnorder_tf trainers tuning tests benchmarks reproduction docs

lint: install
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)

# The documentation site (mkdocs.yml, docs/) into site/. --strict turns
# every warning into an error: a broken link, a page missing from the
# nav, a docstring Griffe cannot read. The docs extra is also in dev.
DOCS_STAMP := $(VENV)/.docs-installed

$(DOCS_STAMP): $(STAMP) setup.cfg
	$(PY) -m pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(VENV)/bin/mkdocs build --strict

# The site at http://127.0.0.1:8000, rebuilt as you edit.
docs-serve: $(DOCS_STAMP)
	$(VENV)/bin/mkdocs serve

clean:
	rm -rf $(VENV) $(TORCH_VENV) build site *.egg-info
