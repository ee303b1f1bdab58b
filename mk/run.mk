# `make run`: the built .deb installed in a container and used as a person would (see
# docs/install.md); `make stop` removes it; `make shell` opens a root shell inside.
#   make run RELEASE=trixie    the other Debian release (default bookworm)
#   make run EXIT=1            stop at the end (for scripts and CI)
#   make shell CMD='journalctl -u hal0-slot@chat'
RELEASE ?= bookworm
EXIT ?=
CMD ?=
RUN := /usr/bin/python3 -m tests.system.harness.run

.PHONY: run stop shell

run:
	@$(RUN) start --release $(RELEASE) $(if $(filter-out 0,$(EXIT)),--exit)

stop:
	@$(RUN) stop

shell:
	@$(RUN) shell -- $(CMD)
