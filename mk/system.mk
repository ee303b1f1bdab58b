# System tier: a real systemd as PID 1 in a systemd-nspawn container, a real llama-server,
# generated GGUF models. Runs once (not per dependency set), from its own venv. See docs/testing.md.

VENV_SYSTEM := $(BUILD)/venv-system

.PHONY: test-system deps-system

# Host tools, the tier's venv (newest runtime deps + gguf/numpy), llama-server, the cached rootfs.
deps-system:
	@tools/system-deps.sh $(VENV_SYSTEM)

test-system: deps-system
	@mkdir -p $(RESULTS)
	$(VENV_SYSTEM)/bin/python -m pytest -p no:cacheprovider tests/system \
		--junitxml=$(RESULTS)/system.xml -o junit_suite_name=system $(PYTEST_ARGS)
