"""hal0-router: one OpenAI-compatible endpoint for every slot.

systemd holds the listening socket (hal0-router.socket) and starts the router on the first
connection. The router keeps a cache of what hal0d publishes on the bus (`cache`), picks the
slot by the request's ``model`` (`routes`), wakes an offline slot through hal0d's ``Wake`` and
holds the request until it is ready (`gate`), then forwards it to the slot's llama-server,
streaming the answer back chunk by chunk (`upstream`, `server`). It never starts, stops or
configures anything itself.
"""
