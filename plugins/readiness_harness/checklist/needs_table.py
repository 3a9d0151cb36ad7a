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
    return f"`{known.option_text}`" if known else f"`{need}`"


def _gateway_text(gateways: set[str]) -> str:
    parts = [f"`{GATEWAY_SECRETS[name]}`" for name in ("standard", "stripe") if name in gateways]
    if "paypal" in gateways:
        parts.append("`--paypal-sandbox`")
    return "signed deliveries (" + ", ".join(parts) + " for the gateways it uses)"


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
        rows.append(f"| {_cell(line['area'])} | {_cell(line['scenario'])} | {tags} | {needs} |")
    return "\n".join(rows) + "\n"
