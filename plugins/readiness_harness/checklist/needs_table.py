"""The README's table of every line and what it needs from a target, from a run's needs.

Rendered by `readiness map --needs` from a readiness.json; on a full run of the embedded
default every line is given what it asks for, so every need shows. The README's copy is
kept whole (every scenario of the feature files, once) by tests/checklist.
"""

from __future__ import annotations

from typing import Any

from readiness_harness.checklist.needs import GATEWAY_PREFIX
from readiness_harness.target.target import CAPABILITIES, GATEWAY_SECRETS

SKIPPED_TAGS = ("severity_",)
"""Tags that say how much a line matters, not which line it is."""
NOTHING_MORE = "its URL"


def _need_text(need: str) -> str | None:
    if need.startswith(GATEWAY_PREFIX):
        return None  # gateways are summed up in one phrase
    known = CAPABILITIES.get(need)
    options = known.options if known else (need,)
    return " or ".join(f"`{option}`" if option.startswith("--") else option for option in options)


def _gateway_text(gateways: set[str]) -> str:
    parts = [f"`{GATEWAY_SECRETS[name]}`" for name in ("standard", "stripe") if name in gateways]
    if "paypal" in gateways:
        parts.append("`--paypal-sandbox`")
    if len(gateways) == 1:
        # a line about any payment sends the first gateway the target uses
        return "signed deliveries of one gateway it uses (its secret, or `--paypal-sandbox`)"
    return "signed deliveries of each gateway it uses (" + ", ".join(parts) + ")"


def line_tags(line: dict[str, Any]) -> list[str]:
    """A line's own tags: not its area's, not its severity."""
    area = line.get("area_tag", "")
    return [tag for tag in line.get("tags", []) if tag != area and not tag.startswith(SKIPPED_TAGS)]


def needs_text(needs: list[str]) -> str:
    gateways = {need.removeprefix(GATEWAY_PREFIX) for need in needs if need.startswith(GATEWAY_PREFIX)}
    others = sorted({text for need in needs if (text := _need_text(need))})
    parts = ([_gateway_text(gateways)] if gateways else []) + others
    return ", ".join(parts) if parts else NOTHING_MORE


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "\\<")


def render_needs_table(lines: list[dict[str, Any]]) -> str:
    rows = [
        "| Area | Line | Tag | Needs from a target |",
        "| --- | --- | --- | --- |",
    ]
    for line in sorted(lines, key=lambda line: (line.get("feature_file", ""), line.get("line_number", 0))):
        tags = ", ".join(f"`@{tag}`" for tag in line_tags(line))
        needs = needs_text(line.get("needs", []))
        if "attested" in line.get("tags", []):
            needs = "a sign-off in `attestations.yml` (`--attestations`)"
        elif "after_suites" in line.get("tags", []) and needs == NOTHING_MORE:
            needs = "the lines it names, run in the same check"
        rows.append(f"| {_cell(line['area'])} | {_cell(line['scenario'])} | {tags} | {needs} |")
    return "\n".join(rows) + "\n"
