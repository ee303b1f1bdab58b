# hal0d — build, lint and test entry points. `make help` lists them.
#
# Two dependency sets run the unit and bus tiers:
#   pypi   - newest PyPI releases of the runtime deps, in $(VENV_PYPI)
#   debian - Debian bookworm's packaged ones, /usr/bin/python3 in $(VENV_DEBIAN)
# The system tier (a real systemd in a container) runs once.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BUILD := build
VENV_PYPI := $(BUILD)/venv-pypi
VENV_DEBIAN := $(BUILD)/venv-debian
RESULTS := $(BUILD)/results
SETS ?= pypi debian
PYTEST_ARGS ?=

.PHONY: help test test-unit test-bus lint deps deps-pypi deps-debian deps-host clean

help:
	@echo "make run         the .deb in a container: pull, load, one chat completion (RELEASE=trixie, EXIT=1)"
	@echo "make stop        remove what make run started, then check that nothing is left"
	@echo "make shell       a root shell in the container of make run (CMD='...' runs one command)"
	@echo "make test        lint + unit and bus tiers on both dependency sets + system tier"
	@echo "make test-unit   unit tier on both sets     (SETS=pypi to pick one)"
	@echo "make test-bus    bus tier on both sets      (a private dbus-daemon)"
	@echo "make test-system system tier: real systemd in nspawn, real llama-server (once)"
	@echo "make lint        ruff check, ruff format --check, mypy --strict"
	@echo "make bench       benchmark suite, results in build/bench (docs/BENCHMARKS.md)"
	@echo "make bench-applet  idle hal0-applet: wakeups over 60 s"
	@echo "make clean       remove build/ (venvs, results)"

deps-host:
	@tools/apt-install.sh requirements/apt-host.txt requirements/apt-applet.txt

deps-pypi: deps-host
	@tools/venv.sh pypi $(VENV_PYPI)

deps-debian: deps-host
	@tools/venv.sh debian $(VENV_DEBIAN)

deps: deps-pypi deps-debian

lint: deps-pypi
	$(VENV_PYPI)/bin/ruff check .
	$(VENV_PYPI)/bin/ruff format --check .
	$(VENV_PYPI)/bin/mypy hal0d

# tools/run-tier.sh TIER SET... runs one tier per set and writes junit XML to $(RESULTS).
test-unit: $(addprefix deps-,$(SETS))
	@tools/run-tier.sh unit $(SETS) -- $(PYTEST_ARGS)

test-bus: $(addprefix deps-,$(SETS))
	@tools/run-tier.sh bus $(SETS) -- $(PYTEST_ARGS)

# The whole suite: every step runs even after a failure, then one summary decides.
test:
	@tools/test-all.sh

clean:
	rm -rf $(BUILD)

-include mk/*.mk
