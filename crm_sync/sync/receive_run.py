"""One receive run of one section over a partition range: preflight, plan, receive, and the sync log."""

from __future__ import annotations

from datetime import date

from crm_sync.platform import ApplyCounts, PlatformStore
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.sync.preflight import check_sections
from crm_sync.sync.receive import Receiver, ReceiveResult

COUNT_EVENTS = (("records_imported", "imported"), ("records_updated", "updated"), ("records_deleted", "deleted"))


def receive_days(client: SalesforceClient, store: PlatformStore, section_name: str, first_day: date,
                 last_day: date, *, incremental: bool, modstamp_field: str | None = None,
                 run_id: str | None = None) -> ReceiveResult:
    """Receive one section for the days first_day..last_day (inclusive), logging start, counts and outcome.

    Nothing is fetched and no cursor moves when the preflight fails (credentials, unknown object or field).
    """
    section = store.section(section_name)
    field = modstamp_field or store.settings.defaults.modstamp_field
    try:
        check_sections(client, store.settings, [section])
    except Exception as exc:
        store.log_event("sync_failed", section=section, run_id=run_id,
                        details={"stage": "preflight", "error": f"{type(exc).__name__}: {exc}"})
        raise
    receiver = Receiver(client, store)
    window = receiver.plan_window(section, first_day, last_day, incremental=incremental, modstamp_field=field)
    store.log_event("sync_started", section=section, run_id=run_id,
                    details={"window_start": window.start.isoformat(), "window_end": window.end.isoformat(),
                             "modstamp_field": field})
    try:
        result = receiver.receive_window(section, window, modstamp_field=field, run_id=run_id,
                                         days=(first_day, last_day))
        if incremental and not window.empty:
            hard = receiver.receive_deletes(section, window, run_id=run_id)
            result.counts = result.counts + ApplyCounts(deleted=hard)
    except Exception as exc:
        store.log_event("sync_failed", section=section, run_id=run_id,
                        details={"error": f"{type(exc).__name__}: {exc}"})
        raise
    for event, attribute in COUNT_EVENTS:
        count = getattr(result.counts, attribute)
        if count:
            store.log_event(event, section=section, run_id=run_id, count=count)
    store.log_event("sync_completed", section=section, run_id=run_id, count=result.fetched,
                    details=result.metadata())
    return result
