"""Charts drawn on the server as SVG (no script, nothing from a CDN)."""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 640, 200, 28


def bar_chart(bars: list[tuple[str, float]], *, title: str) -> Markup:
    """Vertical bars with their labels and values; every text escaped."""
    if not bars:
        return Markup("")
    top = max(value for _, value in bars) or 1
    step = (WIDTH - 2 * PAD) / len(bars)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(bars):
        height = (HEIGHT - 2 * PAD) * value / top
        x = PAD + i * step
        y = HEIGHT - PAD - height
        parts.append(
            f'<rect x="{x + step * 0.1:.1f}" y="{y:.1f}" width="{step * 0.8:.1f}" height="{height:.1f}"/>'
            f'<text x="{x + step / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">{escape(f"{value:g}")}</text>'
            f'<text x="{x + step / 2:.1f}" y="{HEIGHT - PAD + 14:.1f}" text-anchor="middle" '
            f'class="label">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
