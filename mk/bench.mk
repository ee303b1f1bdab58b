# make bench: the benchmark suite (never part of `make test`). Pull on both dependency sets,
# then the in-container measurements on the system tier's fixtures, then the plot and the
# Markdown table. Results: build/bench/NAME.json, cost-vs-slots.png, results.md.
# `make bench-publish` copies the last run's table and plot into docs/BENCHMARKS.md.
.PHONY: bench bench-publish deps-bench

VENV_BENCH := $(BUILD)/venv-bench
BENCH_SETS ?= pypi debian
BENCH_ARGS ?=

# The plotting venv: matplotlib, for the PNG only.
deps-bench:
	@[ -x $(VENV_BENCH)/bin/python ] || python3 -m venv $(VENV_BENCH)
	@$(VENV_BENCH)/bin/python -m pip install -q --disable-pip-version-check \
		-r requirements/bench.txt

bench: deps-store $(addprefix deps-,$(BENCH_SETS)) deps-system deps-bench
	@bench/run.sh $(BENCH_SETS) -- $(BENCH_ARGS)

bench-publish:
	@/usr/bin/python3 -m bench.report --docs
