"""What a load run sent: every payment, and the HTTP status of each of its deliveries.

Each load-generating process keeps a `Ledger`; Locust workers send theirs to the master
when they stop, which merges them into one file beside Locust's reports. The exactly-once
check reads it back, so the check covers every payment any process sent, on any machine.
Status 0 means no HTTP answer (a refused or cut connection, or a timeout).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from readiness_harness.gateways.events import Payment
from readiness_harness.load.plan import Kind


@dataclass
class PaymentRecord:
    payment: Payment
    captures: list[int] = field(default_factory=list)
    """Statuses of the capture deliveries (the first and its duplicates), in order sent."""
    refunds: list[int] = field(default_factory=list)

    @property
    def refunded(self) -> bool:
        """A refund was sent (whether or not it was answered: the gateway would retry it)."""
        return bool(self.refunds)

    def to_json(self) -> dict[str, Any]:
        return {"payment": asdict(self.payment), "captures": self.captures, "refunds": self.refunds}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PaymentRecord:
        return cls(Payment(**data["payment"]), list(data["captures"]), list(data["refunds"]))


@dataclass
class Ledger:
    records: dict[str, PaymentRecord] = field(default_factory=dict)
    stale: int = 0
    """Pre-signed deliveries dropped unsent because the schedule fell too far behind."""
    processes: int = 0
    """How many processes' ledgers were merged into this one."""

    def record(self, payment: Payment, kind: Kind, status: int) -> None:
        entry = self.records.get(payment.payment_id)
        if entry is None:
            entry = self.records[payment.payment_id] = PaymentRecord(payment)
        (entry.refunds if kind == "refund" else entry.captures).append(status)

    def statuses(self) -> Counter[int]:
        counts: Counter[int] = Counter()
        for entry in self.records.values():
            counts.update(entry.captures)
            counts.update(entry.refunds)
        return counts

    @property
    def deliveries(self) -> int:
        return sum(len(entry.captures) + len(entry.refunds) for entry in self.records.values())

    def merge(self, other: Ledger) -> None:
        for payment_id, entry in other.records.items():
            mine = self.records.get(payment_id)
            if mine is None:
                self.records[payment_id] = entry
            else:
                mine.captures += entry.captures
                mine.refunds += entry.refunds
        self.stale += other.stale
        self.processes += other.processes

    def to_json(self) -> dict[str, Any]:
        return {
            "processes": self.processes,
            "stale": self.stale,
            "payments": [entry.to_json() for entry in self.records.values()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ledger:
        records = [PaymentRecord.from_json(item) for item in data["payments"]]
        return cls(
            {record.payment.payment_id: record for record in records},
            int(data.get("stale", 0)),
            int(data.get("processes", 0)),
        )

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_json()), encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> Ledger:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
