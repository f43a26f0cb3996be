"""The long fault run: random edits on both sides under faults and kills, then the oracle's verdict.

Seeds an org of --records records in the sandbox, full fetch, then --rounds rounds of edits on both sides
(people, the API, automation, creates, deletes, undeletes; the same record and the same field on both
sides) with 5% 503, 1% UNABLE_TO_LOCK_ROW, sessions expiring every 20 s, commit lag, runs SIGKILLed during
a page, a push and between write and acknowledgement, a midnight crossing and a pause of 3 days or more;
then faults off, sync until quiet, and every mapped field of every record compared on both sides
(crm_sync_tests/faults/oracle.py says what is expected). Prints changes per side, faults injected, kills,
and lost / duplicated / diverged / stuck with examples, and the seed to replay.

    python bench/faults.py                                  # 10,000 records, 20 rounds, SQLite and Postgres
    python bench/faults.py --records 500 --rounds 6 --db sqlite --seed 7
Writes bench/results/faults.json. Postgres: 127.0.0.1:5432, user postgres (a database made and dropped).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the harness lives with the tests

from crm_sync.sandbox.process import running_sandbox  # noqa: E402
from crm_sync_tests.conftest import fresh_postgres_database  # noqa: E402
from crm_sync_tests.faults.harness import FaultSuite, FaultSuiteConfig  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "faults.json"


def run_one(db: str, args: argparse.Namespace, work: Path) -> dict:
    config = FaultSuiteConfig(records=args.records, rounds=args.rounds, seed=args.seed,
                              edits_per_round=args.edits, kill_rate=args.kill_rate)
    database = (fresh_postgres_database("crm_sync_faults") if db == "postgres"
                else contextlib.nullcontext(f"sqlite:///{work / 'faults.db'}"))
    with database as url, running_sandbox(work / f"org-{db}", records=0) as info:
        suite = FaultSuite(config, info, url, work / f"run-{db}")
        try:
            result = suite.run()
        finally:
            suite.close()
    print(result.summary(args.examples), flush=True)
    for error in result.run_errors[:10]:
        print(f"  run error: {error}")
    return result.as_dict(examples=args.examples * 4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--edits", type=int, default=0, help="edits per side per round (0: records / 40)")
    parser.add_argument("--kill-rate", type=float, default=0.3, help="share of runs that are SIGKILLed")
    parser.add_argument("--examples", type=int, default=5, help="examples printed per kind")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON goes (default %(default)s)")
    args = parser.parse_args(argv)
    databases = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    with tempfile.TemporaryDirectory(prefix="crm-sync-faults-") as work:
        results = {db: run_one(db, args, Path(work)) for db in databases}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"records": args.records, "rounds": args.rounds, "seed": args.seed,
                                   "results": results}, indent=2, default=str), encoding="utf-8")
    print(f"wrote {args.output}")
    failed = any(r[k] for r in results.values() for k in ("lost", "duplicated", "diverged", "stuck"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
