# Entry points: `make quick` (a first report in minutes), `make study` (the full study), `make depth` (the depth
# sweep), `make deep` (to 200 layers), `make test` (the tests; `make test-fast` without the end-to-end ones).
# Setup is idempotent: a virtualenv in .venv with the tested versions (constraints.txt), and Debian's Fashion-MNIST package.

VENV ?= .venv
# The interpreter the virtualenv is made from: 3.11, 3.12 or 3.13 (make test PYTHON=python3.13 VENV=.venv-3.13).
PYTHON ?= python3
PY := $(VENV)/bin/python
CORES ?= $(shell nproc)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: quick study depth deep test test-fast lint status setup data-package test-packages benchmark

# Snakemake finds the workflow profile profiles/default by itself, as in every snakemake run of this project.
study: setup data-package
	$(VENV)/bin/snakemake --cores $(CORES)

# A first report in minutes on the real data (studies/quick.yaml): results/quick/report/report.html
quick: setup data-package
	$(VENV)/bin/snakemake --cores $(CORES) --configfile studies/quick.yaml

# How deep each fix trains, against mean-field theory (studies/depth.yaml): results/depth/report/report.html
depth: setup data-package
	$(VENV)/bin/snakemake --cores $(CORES) --configfile studies/depth.yaml

# How deep a sigmoid trains once initialised as theory says, to 200 layers (studies/deep.yaml): results/deep/report/report.html
deep: setup data-package
	$(VENV)/bin/snakemake --cores $(CORES) --configfile studies/deep.yaml

test: lint data-package test-packages
	$(PY) -m pytest -ra

# The tests without the end-to-end ones (whole Snakemake studies, SLURM): the unit and report tests, in minutes.
test-fast: lint data-package
	$(PY) -m pytest -ra -m "not e2e and not slurm"

# The linters pinned in pyproject.toml's test extra: ruff (rules and format) and snakefmt, line length 120.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/snakefmt --check Snakefile workflow

# While `make study` (or any snakemake) runs: each training job's epoch, validation accuracy and time left.
status:
	$(PY) -m vanishing_gradients.status

benchmark: setup data-package
	$(PY) benchmarks/epoch.py

setup: $(VENV)/.installed

# pyproject.toml names compatible ranges; constraints.txt the exact versions tested, which the venv gets.
# The test extra brings the slurm and tensorboard extras (the suite tests both).
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

# Fashion-MNIST from Debian, so the study runs offline; elsewhere the download rule uses the mirrors in config.yaml.
data-package:
	@if [ -d /usr/share/datasets/fashion-mnist ]; then :; \
	elif command -v apt-get >/dev/null; then \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq dataset-fashion-mnist; \
	else echo "no apt-get: Fashion-MNIST will be downloaded from the mirrors in config.yaml"; fi

# Headless Chromium for the report's browser test (SLURM is installed by its own test fixture).
test-packages:
	@if command -v chromium >/dev/null || ! command -v apt-get >/dev/null; then :; else \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; fi
