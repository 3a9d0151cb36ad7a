"""Small SVG line charts for the weekly review (no plotting library needed).

    svg = line_chart("RTO and RPO per drill", [Series("RTO (s)", points), ...], y_unit="s")
    Path("rto.svg").write_text(svg)

Points are (x label, value) pairs sharing one x axis; a value of None leaves a gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 720, 320
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 50, 60
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[str, float | None]]


def _ticks(top: float) -> list[float]:
    if top <= 0:
        return [0.0]
    step = 10 ** len(str(int(top))) / 10 if top >= 1 else 0.1
    while top / step > 6:
        step *= 2
    while top / step < 3:
        step /= 2
    ticks, value = [], 0.0
    while value <= top * 1.0001:
        ticks.append(value)
        value += step
    return ticks


def line_chart(
    title: str,
    series: Sequence[Series],
    y_unit: str = "",
    threshold: float | None = None,
    threshold_label: str = "",
) -> str:
    """An SVG document: one line per series, an optional dashed threshold line."""
    labels = list(dict.fromkeys(label for line in series for label, _ in line.points))
    values = [value for line in series for _, value in line.points if value is not None]
    top = max([*values, threshold or 0.0, 0.0]) * 1.1 or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(index: int) -> float:
        return LEFT + (plot_w * (index + 0.5) / max(1, len(labels)))

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * value / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    for tick in _ticks(top / 1.1):
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:g}{escape(y_unit)}</text>'
        )
    parts.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#444"/>')
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="#444"/>'
    )
    every = max(1, len(labels) // 12)
    for index, label in enumerate(labels):
        if index % every == 0:
            parts.append(
                f'<text x="{x(index):.1f}" y="{TOP + plot_h + 14}" text-anchor="end" '
                f'transform="rotate(-35 {x(index):.1f} {TOP + plot_h + 14})">{escape(label)}</text>'
            )
    if threshold is not None:
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" '
            'stroke="#888" stroke-dasharray="6 4"/>'
        )
        parts.append(
            f'<text x="{WIDTH - RIGHT - 4}" y="{y(threshold) - 4:.1f}" text-anchor="end" fill="#555">'
            f"{escape(threshold_label)}</text>"
        )
    for number, line in enumerate(series):
        colour = COLOURS[number % len(COLOURS)]
        index_of = {label: index for index, label in enumerate(labels)}
        runs: list[list[tuple[float, float]]] = [[]]
        for label, value in line.points:
            if value is None:
                runs.append([])
                continue
            runs[-1].append((x(index_of[label]), y(value)))
        for run in runs:
            if len(run) > 1:
                path = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
                parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            for px, py in run:
                parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>')
        legend_x = LEFT + 10 + number * 170
        parts.append(f'<rect x="{legend_x}" y="{TOP - 14}" width="12" height="4" fill="{colour}"/>')
        parts.append(f'<text x="{legend_x + 16}" y="{TOP - 9}">{escape(line.name)}</text>')
    if not values:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#888">no data</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
