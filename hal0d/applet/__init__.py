"""hal0-applet: a tray icon (StatusNotifierItem + dbusmenu) that follows hal0d through its
signals. A client of `org.hal0.Manager1` like any other; nothing in hal0d depends on it."""
