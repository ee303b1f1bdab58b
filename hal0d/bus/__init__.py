"""The org.hal0.Manager1 service objects: a thin D-Bus adapter over `hal0d.manager`."""
