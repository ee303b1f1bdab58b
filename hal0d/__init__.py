"""hal0d: run local LLMs as systemd units, driven over D-Bus."""

__version__ = "0.1.0"
