"""The dashboard's Kafka subscriptions: per subscription, records read per second, invocations made,
consumer lag, parked records and errors (from the `restate_kafka_*` metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text

from restate import metrics as m

_PARKED_NOW = "restate_kafka_parked_records"


@dataclass
class SubscriptionSample:
    """Cumulative values of one subscription at one scrape."""

    consumed: float = 0.0
    created: float = 0.0
    errors: float = 0.0
    parked: float = 0.0  # parked now
    lag: dict[str, float] = field(default_factory=dict)  # topic/partition -> records not read yet


def apply(found: dict[str, SubscriptionSample], name: str, labels: dict[str, str], value: float) -> bool:
    """Records a sample when it is a Kafka metric; False otherwise."""
    sub = labels.get("subscription")
    if sub is None or not name.startswith("restate_kafka_"):
        return False
    sample = found.setdefault(sub, SubscriptionSample())
    if name == m.KAFKA_REQUESTS:
        sample.consumed += value
    elif name == m.KAFKA_INVOCATIONS:
        sample.created += value
    elif name == m.KAFKA_ERRORS:
        sample.errors += value
    elif name == _PARKED_NOW:
        sample.parked = value
    elif name == m.KAFKA_LAG:
        sample.lag[f"{labels.get('topic')}/{labels.get('partition')}"] = value
    return True


@dataclass
class SubscriptionRow:
    subscription: str
    read_rps: float | None  # None: no rate yet
    created: float
    lag: float
    parked: float
    errors: float


def rows(
    cur: dict[str, SubscriptionSample], old: dict[str, SubscriptionSample] | None, span: float
) -> list[SubscriptionRow]:
    found = []
    for sub, sample in sorted(cur.items()):
        before = old.get(sub) if old is not None else None
        rate = None
        if old is not None and span > 0:
            rate = max(0.0, sample.consumed - (before.consumed if before else 0.0)) / span
        found.append(SubscriptionRow(sub, rate, sample.created, sum(sample.lag.values()), sample.parked, sample.errors))
    return found


def lines(found: list[SubscriptionRow]) -> list[Text]:
    """One line per subscription: `kafka sub_… 120 rec/s  invoked 5,000  lag 0  parked 1  errors 0`."""
    out = []
    for row in found:
        rate = "-" if row.read_rps is None else f"{row.read_rps:,.0f}"
        line = Text.assemble(("kafka ", "bold"), row.subscription, f"  {rate} rec/s  invoked {row.created:,.0f}",
                             f"  lag {row.lag:,.0f}")  # fmt: skip
        line.append(f"  parked {row.parked:,.0f}", style="bold yellow" if row.parked else "")
        line.append(f"  errors {row.errors:,.0f}", style="red" if row.errors else "")
        out.append(line)
    return out
