"""The outcome of writing one record (sObject Collections or Bulk API 2.0 ingest)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RecordResult:
    """One record's write result.

    `errors` holds Salesforce's entries: [{"statusCode", "message", "fields"}]. `input` is the record as
    sent (collections) or as echoed back by the ingest job (bulk), for matching results to records: the
    order of Bulk API 2.0 results is not the order of the upload.
    """

    id: str | None
    success: bool
    created: bool = False
    errors: list[dict] = field(default_factory=list)
    input: dict | None = None
    read_back: dict | None = None  # fields read back right after the write (see collections_write)

    @property
    def error_codes(self) -> list[str]:
        return [e.get("statusCode", "") for e in self.errors]

    def __repr__(self) -> str:
        state = "created" if self.created else ("ok" if self.success else "failed")
        return f"RecordResult(id={self.id!r}, {state}, errors={self.errors!r})"
