"""hal0d's one exception tree. Each class carries the D-Bus error name callers see.

    Hal0Error                  org.hal0.Error.Internal   (base; anything unexpected)
     ├── ConfigError           org.hal0.Error.Config     configuration is invalid
     ├── InvalidNameError      org.hal0.Error.InvalidName a slot or model name is malformed
     ├── InvalidArgumentError  org.hal0.Error.InvalidArgument  another value of a request is
     │                                                      malformed (digest, verify mode, option)
     ├── NoSuchSlotError       org.hal0.Error.NoSuchSlot  no slot of that name is configured
     ├── NotAuthorizedError    org.hal0.Error.NotAuthorized  polkit said no
     ├── IntegrityError        org.hal0.Error.Integrity  a hash, size or signature did not match
     ├── DownloadError         org.hal0.Error.Download   a transfer failed (network, HTTP, disk)
     ├── UnitError             org.hal0.Error.Unit       systemd refused or failed a unit job
     ├── InsufficientMemoryError  org.hal0.Error.InsufficientMemory  Load refused: the model is
     │                                                      larger than the memory available
     ├── NoModelError          org.hal0.Error.NoModel    the slot's model is not in the store yet
     ├── NothingToCancelError  org.hal0.Error.NothingToCancel  no pull or load is running
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


class InvalidArgumentError(Hal0Error):
    dbus_name = ERROR_PREFIX + "InvalidArgument"


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


class InsufficientMemoryError(Hal0Error):
    dbus_name = ERROR_PREFIX + "InsufficientMemory"


class NoModelError(Hal0Error):
    dbus_name = ERROR_PREFIX + "NoModel"


class NothingToCancelError(Hal0Error):
    dbus_name = ERROR_PREFIX + "NothingToCancel"


class BusyError(Hal0Error):
    dbus_name = ERROR_PREFIX + "Busy"
