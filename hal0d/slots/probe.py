"""Probes of a slot's llama-server: /health and /metrics, over loopback with httpx.

Only called while the slot's unit is up; a refused connection or a timeout is "no answer".
"""

import httpx

from hal0d.runner.metrics import Traffic, parse_metrics

PROBE_TIMEOUT = 2.0


class ProbeResult:
    __slots__ = ("health", "traffic")

    def __init__(self, health: int | None, traffic: Traffic | None) -> None:
        self.health = health  # HTTP status of /health; None: no answer
        self.traffic = traffic  # None: /metrics did not answer 200

    def __repr__(self) -> str:
        return f"ProbeResult(health={self.health!r}, traffic={self.traffic!r})"


class HttpProbe:
    """One shared httpx client for all slots; ``close()`` it when the daemon stops."""

    def __init__(self, timeout: float = PROBE_TIMEOUT) -> None:
        # No proxies from the environment: the slot is on loopback.
        self._client = httpx.AsyncClient(timeout=timeout, trust_env=False)

    async def close(self) -> None:
        await self._client.aclose()

    async def probe(self, port: int, api_key: str | None = None) -> ProbeResult:
        base = f"http://127.0.0.1:{port}"
        try:
            health = (await self._client.get(f"{base}/health")).status_code
        except httpx.HTTPError:
            return ProbeResult(None, None)
        if health != 200:
            return ProbeResult(health, None)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        try:
            response = await self._client.get(f"{base}/metrics", headers=headers)
        except httpx.HTTPError:
            return ProbeResult(health, None)
        if response.status_code != 200:
            return ProbeResult(health, None)
        return ProbeResult(health, parse_metrics(response.text))
