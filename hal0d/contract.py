"""The wire contract in one place: bus name, object paths, interfaces, error names, actions.

A breaking change to an interface means a new ``…2`` interface next to the old one, never an
edit of a frozen name here.
"""

BUS_NAME = "org.hal0.Manager1"
MANAGER_PATH = "/org/hal0/Manager1"
MANAGER_INTERFACE = "org.hal0.Manager1"
SLOT_INTERFACE = "org.hal0.Slot1"
SLOT_PATH_PREFIX = MANAGER_PATH + "/slot"

ERROR_PREFIX = "org.hal0.Error."

ACTION_MODEL_MANAGE = "org.hal0.model.manage"
ACTION_SLOT_MANAGE = "org.hal0.slot.manage"
ACTION_CONFIG_RELOAD = "org.hal0.config.reload"
ACTION_SLOT_WAKE = "org.hal0.slot.wake"

SLOT_UNIT_TEMPLATE = "hal0-slot@{}.service"
DAEMON_UNIT = "hal0d.service"
DAEMON_USER = "_hal0"  # User= of hal0d.service, from sysusers.d
ROUTER_UNIT = "hal0-router.service"
