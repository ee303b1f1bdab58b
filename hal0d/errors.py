"""hal0d's one exception tree. Each class carries the D-Bus error name callers see.

    Hal0Error                  org.hal0.Error.Internal   (base; anything unexpected)
     ├── ConfigError           org.hal0.Error.Config     configuration is invalid
     ├── InvalidNameError      org.hal0.Error.InvalidName a slot or model name is malformed
     ├── NoSuchSlotError       org.hal0.Error.NoSuchSlot  no slot of that name is configured
     ├── NotAuthorizedError    org.hal0.Error.NotAuthorized  polkit said no
     ├── IntegrityError        org.hal0.Error.Integrity  a hash, size or signature did not match
     ├── DownloadError         org.hal0.Error.Download   a transfer failed (network, HTTP, disk)
     ├── UnitError             org.hal0.Error.Unit       systemd refused or failed a unit job
     └── BusyError             org.hal0.Error.Busy       the operation conflicts with one running

The bus layer turns a Hal0Error into a D-Bus error of its ``dbus_name`` with its message, and
anything else into ``org.hal0.Error.Internal`` with a generic message (the traceback goes to the
journal only). Messages are written for the person reading them: they say what was wrong and
what would be valid.
"""

from hal0d.contract import ERROR_PREFIX


class Hal0Error(Exception):
    dbus_name = ERROR_PREFIX + "Internal"


class ConfigError(Hal0Error):
    dbus_name = ERROR_PREFIX + "Config"


class InvalidNameError(Hal0Error):
    dbus_name = ERROR_PREFIX + "InvalidName"


class NoSuchSlotError(Hal0Error):
    dbus_name = ERROR_PREFIX + "NoSuchSlot"


class NotAuthorizedError(Hal0Error):
    dbus_name = ERROR_PREFIX + "NotAuthorized"


class IntegrityError(Hal0Error):
    dbus_name = ERROR_PREFIX + "Integrity"


class DownloadError(Hal0Error):
    dbus_name = ERROR_PREFIX + "Download"


class UnitError(Hal0Error):
    dbus_name = ERROR_PREFIX + "Unit"


class BusyError(Hal0Error):
    dbus_name = ERROR_PREFIX + "Busy"
