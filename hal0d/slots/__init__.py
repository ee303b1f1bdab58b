"""Slots: named model servers, each a `hal0-slot@NAME.service` instance."""
