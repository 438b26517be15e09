"""Building blocks models use to contribute to the HTML report."""

from __future__ import annotations

import html
import io
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PAGE_TEMPLATE = "report.html.j2"
"""The one page template of every report (fits, measure QC, batch, calibration)."""

FIGURE_WIDTH_IN = 7.0
"""Default figure width: readable at laptop width when shown at 100%."""


@dataclass
class ReportSection:
    """One titled section of a report.

    Parameters
    ----------
    title : str
        Heading (plain text; escaped when rendered).
    body_html : str
        Trusted HTML built with :func:`figure_html`, :func:`table_html`, :func:`paragraph`.
    anchor : str
        Id for the table of contents; derived from the title when empty.
    subsections : list of ReportSection
        Nested sections.
    """

    title: str
    body_html: str = ""
    anchor: str = ""
    subsections: list[ReportSection] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.anchor:
            self.anchor = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "section"


_svg_counter = itertools.count(1)


def scope_svg_ids(svg: str) -> str:
    """Prefix every id in an SVG (and the references to it) so inline figures can share a page.

    Matplotlib reuses ids such as ``figure_1`` and glyph names in every SVG it writes;
    on one HTML page they would collide.
    """
    prefix = f"f{next(_svg_counter)}-"
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"', svg)
    return re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", svg)


def figure_html(fig: plt.Figure, caption: str = "") -> str:
    """Render a matplotlib figure as inline SVG (closing it) inside a ``<figure>``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure; axes should already carry units in their labels.
    caption : str
        Plain-text caption (escaped).
    """
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buffer.getvalue()
    svg = scope_svg_ids(svg[svg.index("<svg") :])  # drop the XML prologue and doctype
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure class="plot">{svg}{cap}</figure>'


def paragraph(text: str) -> str:
    """Return an escaped ``<p>``."""
    return f"<p>{html.escape(text)}</p>"


def table_html(header: list[str], rows: list[list[object]], caption: str = "") -> str:
    """Return an escaped HTML table; floats are shown with 4 significant digits."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return html.escape(f"{value:.4g}")
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def new_figure(ncols: int = 1, height: float = 3.2) -> tuple[plt.Figure, list[plt.Axes]]:
    """Return a figure with ``ncols`` side-by-side axes at the report's width."""
    fig, axes = plt.subplots(1, ncols, figsize=(FIGURE_WIDTH_IN, height), squeeze=False)
    return fig, list(axes[0])


def render_page(title: str, subtitle: str, sections: list[ReportSection], **context: Any) -> str:
    """Render the shared page template into one self-contained HTML page.

    Parameters
    ----------
    title, subtitle : str
        Page heading and the line under it (escaped).
    sections : list of ReportSection
        The page's sections, in order.
    **context
        Further template variables (``warnings``, ``sampler_notes`` of fit reports).
    """
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("spinefit.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    template = environment.get_template(PAGE_TEMPLATE)
    return template.render(title=title, subtitle=subtitle, sections=sections, **context)
