"""The nine slot states. Wire values are the lower-case strings."""

from enum import StrEnum


class SlotState(StrEnum):
    OFFLINE = "offline"  # unit inactive, no pull running
    PULLING = "pulling"  # the slot's model is being downloaded or verified
    STARTING = "starting"  # unit activating, llama-server not answering HTTP yet
    WARMING = "warming"  # llama-server answers, /health still 503 (model loading)
    READY = "ready"  # unit active, /health 200, no request in flight
    SERVING = "serving"  # requests in flight
    IDLE = "idle"  # ready with no request for the slot's idle_after
    UNLOADING = "unloading"  # unit deactivating
    ERROR = "error"  # systemd gave up, or the pull/verify failed; LastError says why
