"""Progress of a receive as it applies pages: one Python log record per applied page on the logger
`crm_sync.progress` (section and record count in the record's `crm_section` / `crm_records`).

Nothing is printed unless a front end attaches a handler (the demo's progress bars do); the logger does not
propagate, so a root logger at DEBUG does not print one line per page.
"""

from __future__ import annotations

import logging

LOGGER_NAME = "crm_sync.progress"
progress_log = logging.getLogger(LOGGER_NAME)
progress_log.propagate = False
progress_log.setLevel(logging.DEBUG)
progress_log.addHandler(logging.NullHandler())


def page_applied(section: str, records: int) -> None:
    """Report that a page of `records` records of `section` (a Salesforce object) has been applied."""
    progress_log.debug("%s: %d records applied", section, records,
                       extra={"crm_section": section, "crm_records": records})
