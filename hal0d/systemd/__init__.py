"""The systemd adapter: a dbus-fast client of org.freedesktop.systemd1 and unit-name helpers."""
