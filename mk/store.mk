# Model store: Debian tools its tests need (minisign) and the pull benchmark (nginx).
.PHONY: deps-store

deps-store:
	@tools/apt-install.sh requirements/apt-store.txt

deps: deps-store
test-unit: deps-store

