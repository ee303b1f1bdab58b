"""llama-server's Prometheus text from /metrics, reduced to what slot supervision needs.

Standard library only; hal0d's own probe uses the same parser.
"""

from dataclasses import dataclass

PREFIX = "llamacpp:"


@dataclass(frozen=True)
class Traffic:
    requests_processing: int = 0  # requests in flight right now
    requests_deferred: int = 0  # waiting for a free server slot
    # Monotonic counters: a change between two probes is activity even if no request was
    # in flight at either probe.
    prompt_tokens_total: int = 0
    tokens_predicted_total: int = 0
    decode_total: int = 0

    @property
    def in_flight(self) -> int:
        return self.requests_processing + self.requests_deferred

    @property
    def activity(self) -> tuple[int, int, int]:
        return (self.prompt_tokens_total, self.tokens_predicted_total, self.decode_total)


_FIELDS = {
    "requests_processing": "requests_processing",
    "requests_deferred": "requests_deferred",
    "prompt_tokens_total": "prompt_tokens_total",
    "tokens_predicted_total": "tokens_predicted_total",
    "n_decode_total": "decode_total",
}


def parse_metrics(text: str) -> Traffic:
    """Traffic from the exposition text; unknown or malformed lines are ignored."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        if not line.startswith(PREFIX):
            continue
        name, _, rest = line[len(PREFIX) :].partition(" ")
        field = _FIELDS.get(name.split("{", 1)[0])
        if field is None:
            continue
        try:
            values[field] = int(float(rest.split()[0]))
        except (ValueError, IndexError):
            continue
    return Traffic(**values)
