"""The model store: verified models by content, partial downloads, quarantine, catalogs."""
