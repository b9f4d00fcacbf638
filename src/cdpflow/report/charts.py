"""Charts drawn by cdpflow from rows of data: a Superset chart's data (its viz type chooses the
plotly trace) and the images of report e-mails.

Images are static PNGs exported by plotly through kaleido, which drives a headless Chromium
(Debian's `chromium` package; no browser download). Mail clients run no scripts, so the
interactive charts of `cdpflow report` cannot go into a mail; where kaleido or Chromium is
missing, a mail carries its tables with a note saying why there is no image.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import plotly.graph_objects as go

log = logging.getLogger(__name__)
Rows = list[dict[str, Any]]
IMAGE_WIDTH, IMAGE_HEIGHT = 900, 420
NO_IMAGES = (
    "Charts are shown as tables only: drawing them as images needs kaleido "
    "(`pip install kaleido`) and Chromium (`apt-get install chromium`)."
)
TABLE_VIZ = ("table", "pivot_table", "pivot_table_v2", "handlebars")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def chart_figure(rows: Rows, viz_type: str = "") -> go.Figure | None:
    """A plotly figure of a chart's rows, close to what `viz_type` draws in Superset: a time
    series as lines or bars over time, a pie, a big number, otherwise bars by the first text
    column; None for tables (their rows are the chart)."""
    if not rows or viz_type in TABLE_VIZ:
        return None
    columns = list(rows[0])
    numbers = [c for c in columns if any(_is_number(r[c]) for r in rows)]
    times = [c for c in columns if all(isinstance(r[c], date | type(None)) for r in rows)]
    texts = [c for c in columns if c not in numbers and c not in times]
    if not numbers:
        return None
    figure = go.Figure()
    if viz_type.startswith("big_number"):
        figure.add_indicator(value=rows[-1][numbers[0]], title={"text": numbers[0]})
        return figure
    if viz_type == "pie" and texts:
        figure.add_pie(labels=[r[texts[0]] for r in rows], values=[r[numbers[0]] for r in rows])
        return figure
    as_lines = "line" in viz_type or "area" in viz_type
    x = times[0] if times else (texts[0] if texts else None)
    if x is None:
        figure.add_bar(x=numbers, y=[rows[0][c] for c in numbers])
        return figure
    series = [c for c in texts if c != x][:1]
    if series:  # one trace per value of the series column, for the first metric
        for name in sorted({str(r[series[0]]) for r in rows}):
            mine = [r for r in rows if str(r[series[0]]) == name]
            _trace(figure, as_lines, [r[x] for r in mine], [r[numbers[0]] for r in mine], name)
        figure.update_layout(yaxis_title=numbers[0])
    else:
        for metric in numbers:
            _trace(figure, as_lines, [r[x] for r in rows], [r[metric] for r in rows], metric)
    figure.update_layout(xaxis_title=x, barmode="stack" if series else "group")
    return figure


def _trace(figure: go.Figure, as_lines: bool, x: list[Any], y: list[Any], name: str) -> None:
    if as_lines:
        figure.add_scatter(x=x, y=y, name=name, mode="lines+markers")
    else:
        figure.add_bar(x=x, y=y, name=name)


def images_available() -> bool:
    """Whether static images can be drawn here (kaleido importable, Chromium installed)."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return False
    return any(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome"))


def png_images(figures: Sequence[go.Figure]) -> list[bytes] | None:
    """The figures as PNGs, one browser for all of them; None when images cannot be drawn."""
    if not figures:
        return []
    if not images_available():
        return None
    import kaleido

    started = datetime.now()
    # no MathJax: its default is a CDN address, and report images need no TeX
    kaleido.start_sync_server(mathjax=False, silence_warnings=True)
    try:
        opts = {"format": "png", "width": IMAGE_WIDTH, "height": IMAGE_HEIGHT}
        images = [kaleido.calc_fig_sync(figure.to_dict(), opts=opts) for figure in figures]
    except Exception as err:  # a browser that would not start: tables still go out
        log.warning("could not draw report images: %s", err)
        return None
    finally:
        kaleido.stop_sync_server(silence_warnings=True)
    log.info("drew %d images in %s", len(images), datetime.now() - started)
    return images
