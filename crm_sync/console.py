"""What long commands show on the terminal: a progress bar per section, and Dagster's own output in a file.

`SectionProgress` draws one rich bar per section (records applied of those expected, and pages) from the
`crm_sync.progress` log records the receive emits per applied page. `dagster_output_to(path)` sends everything
written to stderr meanwhile (Dagster's event log lines, its warnings) to `path`, so the terminal keeps only
the bars, the result and the next step.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from crm_sync.sync.progress import progress_log


class SectionProgress(logging.Handler):
    """One progress bar per section; a context manager that listens to `crm_sync.progress` while open."""

    def __init__(self, expected: Mapping[str, int], *, console: Console | None = None) -> None:
        super().__init__(logging.DEBUG)
        self.progress = Progress(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("records  {task.fields[pages]} pages"), TimeElapsedColumn(),
                                 console=console or Console(file=sys.stdout), transient=False)
        self.tasks: dict[str, TaskID] = {
            section: self.progress.add_task(section, total=total, pages=0, start=False)
            for section, total in expected.items()}

    def emit(self, record: logging.LogRecord) -> None:
        section = getattr(record, "crm_section", None)
        task = self.tasks.get(section) if section else None
        if task is None:
            return
        self.progress.start_task(task)
        pages = self.progress.tasks[task].fields["pages"] + 1
        self.progress.update(task, advance=getattr(record, "crm_records", 0), pages=pages)

    def __enter__(self) -> SectionProgress:
        self.progress.start()
        progress_log.addHandler(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        progress_log.removeHandler(self)
        self.progress.stop()


@contextlib.contextmanager
def dagster_output_to(path: Path) -> Iterator[Path]:
    """Everything written to stderr inside the block (Dagster's console log, warnings) goes to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as out, contextlib.redirect_stderr(out), warnings.catch_warnings():
        warnings.simplefilter("default")
        yield path
