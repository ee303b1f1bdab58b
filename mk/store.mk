# Model store: Debian tools its tests need (minisign) and the pull benchmark (nginx).
.PHONY: deps-store bench

deps-store:
	@tools/apt-install.sh requirements/apt-store.txt

deps: deps-store
test-unit: deps-store

# 1 GiB over loopback nginx: hal0d's pipeline vs curl + openssl; writes build/bench/pull.json.
BENCH_SETS ?= pypi debian
bench: deps-store $(addprefix deps-,$(BENCH_SETS))
	@bench/run.sh $(BENCH_SETS)
