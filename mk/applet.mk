# hal0-applet: its idle benchmark (its test's desktop packages come with deps-host).
.PHONY: bench-applet

# Wakeups of an idle applet over 60 s, next to the bus messages in that window;
# writes build/bench/applet-idle.json.
bench-applet: deps-pypi
	$(VENV_PYPI)/bin/python -m bench.applet_idle --seconds 60
