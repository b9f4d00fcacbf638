"""derived_views: the SQL files in $CDPFLOW_HOME/views become views over the lake's tables.

Each `<name>.sql` holds one SELECT; the view is called `name` and may read the marts, any other
lake table, or another derived view. The job checks every file against the current tables,
records the ones that work (see cdpflow.lake.views), and fails naming each broken file, after
the good ones are in place: one broken view never stops the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cdpflow.engine import open_query_engine
from cdpflow.errors import TerminalError
from cdpflow.jobs import Interval, job_lock
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.lake.views import load_catalog, read_view_files, save_catalog
from cdpflow.settings import Settings

log = logging.getLogger(__name__)
JOB = "derived_views"


@dataclass
class DerivedViewsResult:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    broken: list[tuple[str, str]] = field(default_factory=list)  # (file, error)
    seconds: float = 0.0

    def summary(self) -> str:
        text = f"{JOB}: {len(self.created)} view(s) in place"
        if self.created:
            text += f" ({', '.join(self.created)})"
        if self.dropped:
            text += f"; dropped {', '.join(self.dropped)} (file removed)"
        return text + f"; {len(self.broken)} broken, {self.seconds:.1f}s"


class BrokenViews(TerminalError):
    def __init__(self, result: DerivedViewsResult) -> None:
        self.result = result
        listed = "; ".join(f"{file}: {error}" for file, error in result.broken)
        super().__init__(
            f"{len(result.broken)} derived view file(s) could not be created: {listed}. "
            f"The other {len(result.created)} view(s) are in place; fix the file(s) and re-run "
            "derived_views."
        )


def run(
    settings: Settings,
    interval: Interval | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> DerivedViewsResult:
    """(Re)create the derived views from the views folder.

    Raises:
        BrokenViews: some files failed (their names and errors are in the message); the views
            that work were recorded anyway.
    """
    started = time.monotonic()
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    folder = settings.home / "views"
    result = DerivedViewsResult()
    with job_lock(settings, JOB):
        views, problems = read_view_files(folder)
        engine = open_query_engine(settings, lake)
        try:
            order, errors = engine.check_views(tables, views)
        finally:
            engine.close()
        by_name = {v.name: v for v in views}
        good = [by_name[name] for name in order]
        before = {v.name for v in load_catalog(lake)}
        save_catalog(lake, good)
        result.created = sorted(order)
        result.dropped = sorted(before - {v.name for v in views})
        result.broken = problems + [(v.file, errors[v.name]) for v in views if v.name in errors]
        if progress:
            progress(1, 1)
    result.seconds = time.monotonic() - started
    for file, error in result.broken:
        log.error("derived view %s is broken: %s", file, error)
    if result.broken:
        raise BrokenViews(result)
    return result
