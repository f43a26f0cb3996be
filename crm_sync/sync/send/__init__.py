"""Send: platform -> Salesforce. Plain Python, no Dagster (the wiring is crm_sync/defs/send.py).

- capture.py: how an application writes with an origin (user | system), and `edit_record` for demos/tests;
- outbox_batches.py: claim outbox rows with a lease, merge them per record, group by model;
- rules.py / settings/filters.py: what is never sent (no email, outside the filter, a required field missing,
  a duplicate email), stored as the record's sync status;
- matching.py: an end_user without a Salesforce Id is matched by email to a Contact or Lead first;
- conflicts.py: when both sides changed a field since the last sync, the section's rule decides;
- push.py: the push itself (sObject Collections by 200, Bulk API 2.0 ingest above the threshold);
- nightly.py: the nightly push of `system` changes, and the full push of one model.
"""

from crm_sync.sync.send.capture import Actor, edit_record, parse_actor
from crm_sync.sync.send.nightly import nightly_push, push_model
from crm_sync.sync.send.push import Pusher, PushResult, push_changes

__all__ = ["Actor", "PushResult", "Pusher", "edit_record", "nightly_push", "parse_actor", "push_changes",
           "push_model"]
