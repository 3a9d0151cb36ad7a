"""What a load run does: users, rate, duration, the mix of captures, duplicates and
refunds, and how many deliveries each load-generating process signs before it starts.

A plan is written to a JSON file that the Locust processes read (never secrets: those come
from each process's environment). Every process pre-signs its own share before its users
start, so signing never sits in the request loop and grows with the number of workers.

Signatures carry a timestamp the target accepts for 300 s either way. In a paced run
(`rate` > 0) delivery i of a process is signed for the moment the schedule sends it, so a
run may last longer than the window; an unpaced run signs everything at the start and is
limited to `UNPACED_MAX_SECONDS`.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from readiness_harness.gateways.events import GATEWAYS, GatewayName

Kind = Literal["capture", "duplicate", "refund"]
KINDS: tuple[Kind, ...] = ("capture", "duplicate", "refund")

UNPACED_MAX_SECONDS = 240
"""An unpaced run signs every delivery when it starts: it must end well inside the
target's 300 s timestamp window."""
STALE_AFTER_SECONDS = 240
"""A pre-signed delivery older than this is dropped unsent (the schedule fell behind)."""
POOL_MARGIN = 1.2
"""A paced process signs 20% more than its schedule sends, so it never runs dry."""
RECENT_CAPTURES = 64
"""Duplicates repeat one of the most recent captures of their process."""


class PlanError(ValueError):
    """The plan cannot run; the message says which setting to change."""


@dataclass(frozen=True)
class LoadPlan:
    target_url: str
    gateways: tuple[GatewayName, ...]
    users: int = 10
    spawn_rate: float = 10.0
    rate: float = 20.0
    """Deliveries per second across all users (0: each user sends as fast as it can)."""
    run_seconds: float = 20.0
    requests: int | None = None
    """At most this many deliveries in all; the run ends early when they are sent."""
    duplicate_share: float = 0.1
    refund_share: float = 0.1
    pack_type: str = "black"
    pack_size: int = 5
    user_id: str = "load"
    processes: int = 1
    """Load-generating processes (Locust workers, or 1 without workers): each signs its share."""
    ca_file: str | None = None
    timeout_seconds: float = 30.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        if not self.gateways:
            problems.append("no gateway to send: give --gateways")
        unknown = [gateway for gateway in self.gateways if gateway not in GATEWAYS]
        if unknown:
            problems.append(f"unknown gateways {unknown}: use {', '.join(GATEWAYS)}")
        if self.users < 1:
            problems.append(f"--users must be at least 1, got {self.users}")
        if self.spawn_rate <= 0:
            problems.append(f"--spawn-rate must be positive, got {self.spawn_rate}")
        if self.rate < 0:
            problems.append(f"--rate must be 0 (unpaced) or more, got {self.rate}")
        if self.run_seconds <= 0:
            problems.append(f"--run-time must be positive, got {self.run_seconds}")
        if self.requests is not None and self.requests < 1:
            problems.append(f"--requests must be at least 1, got {self.requests}")
        if self.rate == 0 and self.requests is None:
            problems.append("an unpaced run (--rate 0) needs --requests to size its pre-signed deliveries")
        if self.rate == 0 and self.run_seconds > UNPACED_MAX_SECONDS:
            problems.append(
                f"an unpaced run signs everything at its start, so it lasts at most {UNPACED_MAX_SECONDS}s "
                f"(the target accepts a signature for 300s): give a --rate for longer runs"
            )
        shares = self.duplicate_share + self.refund_share
        if not (0 <= self.duplicate_share <= 1 and 0 <= self.refund_share <= 1 and shares < 1):
            problems.append("--duplicates and --refunds are shares between 0 and 1 whose sum is below 1")
        if self.processes < 1:
            problems.append(f"processes must be at least 1, got {self.processes}")
        if self.pack_size < 1:
            problems.append(f"--pack-size must be at least 1, got {self.pack_size}")
        if problems:
            raise PlanError("; ".join(problems))

    @property
    def paced(self) -> bool:
        return self.rate > 0

    @property
    def users_per_process(self) -> int:
        """The most users one process runs (Locust spreads users evenly over workers)."""
        return math.ceil(self.users / self.processes)

    @property
    def process_rate(self) -> float:
        """The most deliveries per second one process sends on schedule."""
        return self.users_per_process * self.rate / self.users

    def process_share(self) -> int:
        """How many deliveries one process pre-signs."""
        if self.paced:
            share = math.ceil(self.process_rate * self.run_seconds * POOL_MARGIN) + self.users_per_process
            if self.requests is not None:
                share = min(share, math.ceil(self.requests / self.processes))
            return share
        assert self.requests is not None  # nosec B101 # type narrowing: unpaced plans have a count
        return math.ceil(self.requests / self.processes)

    def signed_at(self, index: int, start: float) -> int:
        """The signature timestamp of a process's delivery `index` (its scheduled moment)."""
        if not self.paced:
            return int(start)
        return int(start + index / self.process_rate)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["gateways"] = list(self.gateways)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadPlan:
        values = dict(data)
        values["gateways"] = tuple(values["gateways"])
        return cls(**values)

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> LoadPlan:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Action:
    """One delivery of the schedule: the capture of payment `payment` (an index into the
    process's payments), a repeat of that capture, or its refund."""

    kind: Kind
    payment: int


def schedule(plan: LoadPlan, count: int, rng: random.Random | None = None) -> list[Action]:
    """`count` actions: new captures, with `duplicate_share` repeats of recent captures and
    `refund_share` refunds of payments captured earlier in the schedule (each refunded once)."""
    rng = rng or random.Random()  # noqa: S311  # nosec B311 # the mix, not a secret
    actions: list[Action] = []
    captured = 0
    refundable: list[int] = []
    for _ in range(count):
        draw = rng.random()
        if captured and draw < plan.duplicate_share:
            actions.append(Action("duplicate", captured - 1 - rng.randrange(min(captured, RECENT_CAPTURES))))
        elif refundable and draw < plan.duplicate_share + plan.refund_share:
            actions.append(Action("refund", refundable.pop(rng.randrange(len(refundable)))))
        else:
            actions.append(Action("capture", captured))
            refundable.append(captured)
            captured += 1
    return actions
