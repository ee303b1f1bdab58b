# System tier: a real systemd as PID 1 in a systemd-nspawn container, a real llama-server,
# generated GGUF models, the built .deb installed with apt. Runs once (not per dependency set),
# from its own venv: the whole tier on Debian bookworm, the subset marked `trixie` or
# `release_sensitive` on trixie (SYSTEM_RELEASES=trixie picks one). See docs/testing.md.

VENV_SYSTEM := $(BUILD)/venv-system
SYSTEM_RELEASES ?= bookworm trixie

.PHONY: test-system deps-system

# Host tools, the tier's venv (newest runtime deps + gguf/numpy), llama-server, and one cached
# rootfs per release holding the package's dependencies (built while llama-server builds).
deps-system: $(DEB)
	@tools/system-deps.sh $(VENV_SYSTEM) $(DEB) $(SYSTEM_RELEASES)

test-system: deps-system
	@mkdir -p $(RESULTS)
	@status=0; for release in $(SYSTEM_RELEASES); do \
		echo "=== system tier, Debian $$release"; \
		HAL0_TEST_RELEASE=$$release $(VENV_SYSTEM)/bin/python -m pytest -p no:cacheprovider \
			tests/system --junitxml=$(RESULTS)/system-$$release.xml \
			-o junit_suite_name=system-$$release $(PYTEST_ARGS) || status=1; \
	done; exit $$status
