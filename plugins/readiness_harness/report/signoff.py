"""Waivers and attestations: the two ways a person signs off on a checklist line.

`waivers.yml` accepts a failing or unmeasured line for a while (reason, owner, expiry;
an expired waiver counts as failed). `attestations.yml` records the human items (who,
when, link); their scenarios pass only when attested and recent enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml


class SignoffFileError(ValueError):
    """A waivers or attestations file that cannot be trusted; the message says why."""


def _read_mapping(path: Path) -> dict[str, Any]:
    """The YAML mapping in `path`; an absent file reads as empty."""
    if not path.exists():
        return {}
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SignoffFileError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise SignoffFileError(f"{path}: expected a mapping at the top level")
    return document


def _date(value: object, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise SignoffFileError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from exc


WAIVABLE_STATES = ("failed", "not measured")


@dataclass(frozen=True)
class Waiver:
    """Accepts one line, or one example of it (`example`: its label such as
    `gateway=paypal`, a single value such as `paypal`, or a mapping of its columns), on
    every target, or only on the one it names (`target`: `embedded` for the embedded
    default, or a target URL)."""

    line: str
    reason: str
    owner: str
    expires: date
    example: str | dict[str, str] | None = None
    target: str | None = None
    accepts: tuple[str, ...] = WAIVABLE_STATES
    """The example states it accepts (`when: not measured` limits it to those: a failure
    then still fails the line)."""

    def holds_for(self, target_url: str | None) -> bool:
        """True when it applies to a run on `target_url` (None: the embedded default)."""
        if self.target is None:
            return True
        if self.target == EMBEDDED_TARGET:
            return target_url is None
        return target_url is not None and self.target.rstrip("/") == target_url.rstrip("/")

    def expired(self, today: date) -> bool:
        return self.expires < today

    def days_left(self, today: date) -> int:
        return (self.expires - today).days

    @property
    def names(self) -> str:
        if self.example is None:
            return repr(self.line)
        example = (
            self.example
            if isinstance(self.example, str)
            else ", ".join(f"{key}={value}" for key, value in self.example.items())
        )
        return f"{self.line!r} example [{example}]"


EMBEDDED_TARGET = "embedded"
"""A waiver's `target` for the embedded default (the reference deployment the harness runs)."""


def load_waivers(path: Path, target_url: str | None = None, *, every_target: bool = False) -> list[Waiver]:
    """The waivers of `path` that hold for a run on `target_url` (None: the embedded
    default), or all of them with `every_target`."""
    entries = _read_mapping(path).get("waivers") or []
    if not isinstance(entries, list):
        raise SignoffFileError(f"{path}: 'waivers' must be a list")
    waivers = []
    for index, entry in enumerate(entries, start=1):
        where = f"{path}: waiver {index}"
        if not isinstance(entry, dict):
            raise SignoffFileError(f"{where}: must be a mapping")
        missing = [name for name in ("line", "reason", "owner", "expires") if not entry.get(name)]
        if missing:
            raise SignoffFileError(f"{where}: missing {', '.join(missing)}")
        example = entry.get("example")
        if example is not None and not isinstance(example, str | dict):
            raise SignoffFileError(f"{where}: 'example' must be a label (gateway=paypal) or a mapping")
        target = entry.get("target")
        if target is not None and not (isinstance(target, str) and target.strip()):
            raise SignoffFileError(f"{where}: 'target' must be '{EMBEDDED_TARGET}' or a target URL")
        when = entry.get("when")
        if when is not None and when not in WAIVABLE_STATES:
            raise SignoffFileError(f"{where}: 'when' must be one of {', '.join(WAIVABLE_STATES)}")
        waiver = Waiver(
            str(entry["line"]),
            str(entry["reason"]),
            str(entry["owner"]),
            _date(entry["expires"], where),
            {str(k): str(v) for k, v in example.items()} if isinstance(example, dict) else example,
            str(target).strip() if target is not None else None,
            (str(when),) if when is not None else WAIVABLE_STATES,
        )
        if every_target or waiver.holds_for(target_url):
            waivers.append(waiver)
    return waivers


@dataclass(frozen=True)
class Attestation:
    item: str
    who: str
    when: date
    link: str

    def age_days(self, today: date) -> int:
        return (today - self.when).days

    def expires(self, max_age_days: int) -> date:
        return self.when + timedelta(days=max_age_days)


@dataclass(frozen=True)
class Attestations:
    max_age_days: int
    items: dict[str, Attestation]


def load_attestations(path: Path) -> Attestations:
    document = _read_mapping(path)
    max_age = document.get("max_age_days", 90)
    if not isinstance(max_age, int) or max_age < 1:
        raise SignoffFileError(f"{path}: max_age_days must be a positive integer")
    raw = document.get("attestations") or {}
    if not isinstance(raw, dict):
        raise SignoffFileError(f"{path}: 'attestations' must map an item to who/when/link")
    items = {}
    for item, entry in raw.items():
        where = f"{path}: attestation {item!r}"
        if not isinstance(entry, dict):
            raise SignoffFileError(f"{where}: must be a mapping with who, when, link")
        missing = [name for name in ("who", "when", "link") if not entry.get(name)]
        if missing:
            raise SignoffFileError(f"{where}: missing {', '.join(missing)}")
        items[str(item)] = Attestation(
            str(item), str(entry["who"]), _date(entry["when"], where), str(entry["link"])
        )
    return Attestations(max_age, items)
