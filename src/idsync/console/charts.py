"""Bar charts drawn on the server as SVG: no chart library, no script, readable by screen
readers (each chart is an image with a label, and each bar has a title)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH = 640
HEIGHT = 160
LABEL_SPACE = 28


def bars(title: str, points: Sequence[tuple[str, float | int | None]]) -> Markup | None:
    """An SVG bar chart of ``points`` (label, value), or None when there is nothing to draw."""
    values = [(label, float(value or 0)) for label, value in points]
    if not values:
        return None
    highest = max(v for _, v in values) or 1.0
    step = WIDTH / len(values)
    width = min(max(step * 0.7, 2), 48)
    drawn = []
    for index, (label, value) in enumerate(values):
        height = (HEIGHT - LABEL_SPACE) * value / highest
        x = index * step + (step - width) / 2
        y = HEIGHT - LABEL_SPACE - height
        shown = f"{value:g}"
        drawn.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" '
            f'height="{height:.1f}"><title>{escape(label)}: {shown}</title></rect>'
            f'<text x="{x + width / 2:.1f}" y="{max(y - 3, 10):.1f}" '
            f'text-anchor="middle">{shown}</text>'
        )
    summary = ", ".join(f"{label}: {value:g}" for label, value in values)
    # Every text in it is escaped above; the rest is numbers.
    return Markup(  # noqa: S704
        f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
        f'<svg role="img" aria-label="{escape(title)}: {escape(summary)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" class="bars">{"".join(drawn)}</svg></figure>'
    )
