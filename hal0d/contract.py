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
# Group= of hal0d.service; its SupplementaryGroups= add DAEMON_USER's own group, so hal0d reads
# root:_hal0 0640 secrets (hf_token_file) that members of group hal0 cannot.
DAEMON_GROUP = "hal0"
ROUTER_UNIT = "hal0-router.service"
