"""Plain-text output of the list commands: columns aligned, as `ls -l` or `kubectl get` print."""

from __future__ import annotations

from collections.abc import Sequence

import click


def echo_table(rows: Sequence[Sequence[str]]) -> None:
    """Print `rows` (the first is the header) in columns as wide as their widest cell; the last
    column is left unpadded, so a long description does not widen the lines."""
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [v.ljust(w) for v, w in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())
