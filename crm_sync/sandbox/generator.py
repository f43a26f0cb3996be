"""A realistic, deterministic org of any size, written straight into a Store with bulk inserts.

Shares of the requested size: Accounts 10%, Contacts 30%, Leads 5%, Tasks 25%, Notes 10%, Cases 10%,
Assets 5%, Licenses 3%, Projects 2%, plus one User per 2,000 records (at least 5). Every reference
points at an existing record of the right object; children are created after their parents; stamps
are spread over the `days` days before the anchor with SystemModstamp >= LastModifiedDate >=
CreatedDate, and some SystemModstamps later than LastModifiedDate, as automation leaves them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

from crm_sync.sandbox.ids import IdFactory
from crm_sync.sandbox.store import Store

SHARES: dict[str, float] = {
    "Account": 0.10, "Contact": 0.30, "Lead": 0.05, "Task": 0.25, "Note": 0.10,
    "Case": 0.10, "Asset": 0.05, "License__c": 0.03, "Project__c": 0.02,
}
RECORDS_PER_USER = 2000
MIN_USERS = 5
CHUNK_ROWS = 50_000

UNMODIFIED_SHARE = 0.35  # records never edited after creation
AUTOMATED_SHARE = 0.15  # records whose SystemModstamp was bumped later by automation
MISSING_EMAIL_SHARE = 0.03
SHARED_EMAIL_SHARE = 0.01  # contacts whose email another contact already has
EXTERNAL_ID_SHARE = 0.9

_DAY_MS = 86_400_000
_EPOCH = date(1970, 1, 1)

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley", "Paul", "Emily",
    "Steven", "Donna", "Andrew", "Michelle", "Joshua", "Carol", "Kevin", "Amanda", "Brian", "Melissa",
    "Lena", "Yuki", "Ahmed", "Sofia", "Mateo", "Ingrid", "Priya", "Chen", "Olga", "Kwame",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Muller", "Schmidt", "Rossi", "Dubois", "Tanaka", "Kowalski", "Novak", "Larsen", "Okafor", "Patel",
)
COMPANY_WORDS = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Hooli", "Vandelay", "Cyberdyne",
    "Soylent", "Tyrell", "Aperture", "Massive", "Pied Piper", "Dunder", "Gringotts", "Oscorp", "Nakatomi",
    "Northwind", "Contoso", "Fabrikam", "Adventure", "Blue Yonder", "Litware", "Proseware", "Tailspin",
)
COMPANY_KINDS = (
    "Analytics", "Systems", "Logistics", "Foods", "Health", "Energy", "Media", "Labs", "Partners",
    "Industries", "Software", "Capital", "Retail", "Robotics", "Telecom", "Motors",
)
COMPANY_SUFFIXES = ("Inc.", "LLC", "Ltd", "GmbH", "SA", "Corp.", "Group", "")
CITIES = (
    ("San Francisco", "CA", "USA"), ("New York", "NY", "USA"), ("Austin", "TX", "USA"),
    ("Chicago", "IL", "USA"), ("Seattle", "WA", "USA"), ("Boston", "MA", "USA"),
    ("London", "England", "United Kingdom"), ("Manchester", "England", "United Kingdom"),
    ("Berlin", "Berlin", "Germany"), ("Munich", "Bavaria", "Germany"), ("Paris", "Ile-de-France", "France"),
    ("Madrid", "Madrid", "Spain"), ("Toronto", "ON", "Canada"), ("Sydney", "NSW", "Australia"),
    ("Tokyo", "Tokyo", "Japan"), ("Amsterdam", "North Holland", "Netherlands"),
)
STREETS = ("Main St", "Market St", "High St", "Oak Ave", "Park Rd", "Elm St", "Harbour Way", "Mill Lane")
TITLES = (
    "CEO", "CTO", "CFO", "VP Sales", "VP Marketing", "Head of Operations", "IT Manager", "Buyer",
    "Procurement Lead", "Engineer", "Analyst", "Office Manager", "Director of Finance", "Product Manager",
)
DEPARTMENTS = ("Sales", "Marketing", "Finance", "Operations", "IT", "Support", "Engineering", "Legal")
ACCOUNT_TYPES = ("Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other")
INDUSTRIES = (
    "Agriculture", "Banking", "Education", "Energy", "Healthcare", "Manufacturing", "Media", "Retail",
    "Technology", "Telecommunications", "Transportation",
)
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")
TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Completed", "Waiting on someone else", "Deferred")
TASK_SUBJECTS = ("Call", "Send quote", "Follow up", "Demo", "Email", "Renewal check-in", "Onboarding call")
CASE_STATUSES = ("New", "Working", "Escalated", "Closed", "Closed")
CASE_SUBJECTS = (
    "Cannot log in", "Invoice question", "Feature request: export", "Sync error", "Performance is slow",
    "Password reset", "Integration broken", "Billing address change",
)
PRODUCTS = ("Core", "Analytics", "Automation", "Enterprise")
ASSET_STATUSES = ("Purchased", "Shipped", "Installed", "Registered", "Obsolete")
LICENSE_STATUSES = ("Trial", "Active", "Active", "Expired", "Cancelled")
PROJECT_STATUSES = ("Planned", "In Progress", "Done", "On Hold")
TIME_ZONES = ("GMT", "Europe/London", "America/New_York", "America/Los_Angeles")

SYSTEM_COLUMNS = (
    "Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp",
)


def plan_counts(records: int) -> dict[str, int]:
    """How many records of each object a seed of about `records` records makes."""
    counts = {"User": max(MIN_USERS, round(records / RECORDS_PER_USER))}
    for name, share in SHARES.items():
        counts[name] = round(records * share)
    counts["Account"] = max(1, counts["Account"])
    return counts


def seed_org(
    store: Store, records: int, seed: int = 1, *, anchor: datetime | None = None, days: int = 90
) -> dict[str, int]:
    """Fill the store with an org of about `records` records; the same seed and anchor give the same org.

    `anchor` (default: today 00:00 UTC) is the end of the `days`-day window the stamps fall in.
    Returns the number of records made per object.
    """
    if anchor is None:
        anchor = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return _Seeder(store, seed, anchor, days).run(plan_counts(records))


class _StampText:
    """Epoch milliseconds to stored datetime/date text, fast (a cache of day strings)."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def day(self, ms: int) -> str:
        number = ms // _DAY_MS
        text = self._days.get(number)
        if text is None:
            text = self._days[number] = (_EPOCH + timedelta(days=number)).isoformat()
        return text

    def datetime(self, ms: int) -> str:
        seconds, millis = divmod(ms % _DAY_MS, 1000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        return f"{self.day(ms)}T{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}+0000"


class _Seeder:
    """One seeding run: the random stream, the users to own things and the parents made so far."""

    def __init__(self, store: Store, seed: int, anchor: datetime, days: int) -> None:
        self.store = store
        self.rng = random.Random(seed)
        self.text = _StampText()
        self.end_ms = int(anchor.timestamp() * 1000) - 1
        self.start_ms = self.end_ms + 1 - days * _DAY_MS
        self.user_ids: list[str] = []
        self.modifier_ids: list[str] = []
        self.account_ids: list[str] = []
        self.account_created: list[int] = []
        self.account_domains: list[str] = []
        self.contact_ids: list[str] = []
        self.contact_created: list[int] = []
        self.contacts_of_account: list[list[int]] = []
        self.contact_emails: list[str | None] = []

    # ----- shared pieces -------------------------------------------------------------------------

    def pick(self, values: Sequence):
        return values[int(self.rng.random() * len(values))]

    def root_created(self) -> int:
        return self.start_ms + int(self.rng.random() * (self.end_ms - self.start_ms))

    def child_created(self, parent_created: int) -> int:
        return parent_created + int(self.rng.random() * (self.end_ms - parent_created))

    def system(self, record_id: str, created: int, owner: str) -> tuple:
        """Id, IsDeleted, CreatedDate, CreatedById, LastModifiedDate, LastModifiedById, SystemModstamp."""
        r = self.rng.random
        modified = created if r() < UNMODIFIED_SHARE else created + int(r() * (self.end_ms - created))
        stamp = modified + int(r() * (self.end_ms - modified)) if r() < AUTOMATED_SHARE else modified
        integration = self.store.integration_user_id
        creator = owner if r() < 0.8 else integration
        modifier = creator if modified == created else (owner if r() < 0.7 else self.pick(self.modifier_ids))
        text = self.text.datetime
        return (record_id, 0, text(created), creator, text(modified), modifier, text(stamp))

    def person(self) -> tuple[str, str]:
        return self.pick(FIRST_NAMES), self.pick(LAST_NAMES)

    def phone(self) -> str:
        return f"+1 {self.rng.randrange(200, 999)} {self.rng.randrange(100, 999)} {self.rng.randrange(1000, 9999)}"

    def insert(self, obj: str, columns: Sequence[str], rows: Iterator[tuple]) -> int:
        """bulk_insert in chunks; returns the number of rows."""
        total, chunk = 0, []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= CHUNK_ROWS:
                self.store.bulk_insert(obj, chunk, list(columns))
                total, chunk = total + len(chunk), []
        if chunk:
            self.store.bulk_insert(obj, chunk, list(columns))
            total += len(chunk)
        return total

    def run(self, counts: dict[str, int]) -> dict[str, int]:
        makers = {
            "User": self.users, "Account": self.accounts, "Contact": self.contacts, "Lead": self.leads,
            "Task": self.tasks, "Note": self.notes, "Case": self.cases, "Asset": self.assets,
            "License__c": self.licenses, "Project__c": self.projects,
        }
        made = {}
        for obj, maker in makers.items():
            ids = self.store.new_ids(obj, counts[obj])
            columns, rows = maker(ids)
            made[obj] = self.insert(obj, columns, rows)
        self.store.analyze()
        return made

    # ----- objects -------------------------------------------------------------------------------

    def users(self, ids: list[str]) -> tuple[tuple, Iterator[tuple]]:
        columns = SYSTEM_COLUMNS + (
            "Username", "FirstName", "LastName", "Name", "Email", "Alias", "IsActive", "Title", "Department",
            "TimeZoneSidKey", "ManagerId",
        )
        self.user_ids = list(ids)
        self.modifier_ids = self.user_ids + [self.store.integration_user_id]
        integration = self.store.integration_user_id
        rows = []
        for index, record_id in enumerate(ids):
            first, last = self.person()
            created = self.start_ms - int(self.rng.random() * 30 * _DAY_MS)
            email = f"{first}.{last}.{IdFactory.sequence_of(record_id)}@crm-sync-demo.sandbox".lower()
            system = (record_id, 0, self.text.datetime(created), integration, self.text.datetime(created),
                      integration, self.text.datetime(created))
            rows.append(system + (
                email, first, last, f"{first} {last}", email, (first[0] + last)[:8].lower(), 1,
                self.pick(TITLES), self.pick(DEPARTMENTS), self.pick(TIME_ZONES), ids[0] if index else None,
            ))
        return columns, iter(rows)

    def accounts(self, ids: list[str]) -> tuple[tuple, Iterator[tuple]]:
        columns = SYSTEM_COLUMNS + (
            "OwnerId", "Name", "AccountNumber", "Type", "Industry", "Rating", "AnnualRevenue",
            "NumberOfEmployees", "Phone", "Website", "BillingStreet", "BillingCity", "BillingState",
            "BillingPostalCode", "BillingCountry", "Description", "ParentId", "External_Id__c", "Health_Score__c",
        )

        def rows() -> Iterator[tuple]:
            r = self.rng.random
            for index, record_id in enumerate(ids):
                owner = self.pick(self.user_ids)
                created = self.root_created()
                word, kind = self.pick(COMPANY_WORDS), self.pick(COMPANY_KINDS)
                name = f"{word} {kind} {self.pick(COMPANY_SUFFIXES)}".strip()
                sequence = IdFactory.sequence_of(record_id)
                domain = f"{word}{kind}{sequence}.example.com".lower().replace(" ", "")
                city, state, country = self.pick(CITIES)
                self.account_ids.append(record_id)
                self.account_created.append(created)
                self.account_domains.append(domain)
                self.contacts_of_account.append([])
                parent = self.account_ids[int(r() * index)] if index and r() < 0.05 else None
                employees = int(10 ** (1 + r() * 4))
                yield self.system(record_id, created, owner) + (
                    owner, name, f"AC{sequence:08d}", self.pick(ACCOUNT_TYPES), self.pick(INDUSTRIES),
                    self.pick(("Hot", "Warm", "Cold", None)), round(employees * (50_000 + r() * 150_000), -3),
                    employees, self.phone(), f"https://www.{domain}",
                    f"{self.rng.randrange(1, 999)} {self.pick(STREETS)}", city, state,
                    f"{self.rng.randrange(10000, 99999)}", country,
                    f"{kind} company in {city}" if r() < 0.5 else None, parent,
                    f"ACC-{sequence:09d}" if r() < EXTERNAL_ID_SHARE else None,
                    round(r() * 100, 1) if r() < 0.8 else None,
                )

        return columns, rows()

    def contacts(self, ids: list[str]) -> tuple[tuple, Iterator[tuple]]:
        columns = SYSTEM_COLUMNS + (
            "OwnerId", "AccountId", "FirstName", "LastName", "Name", "Email", "Phone", "Title", "Department",
            "LeadSource", "Birthdate", "HasOptedOutOfEmail", "MailingStreet", "MailingCity", "MailingState",
            "MailingPostalCode", "MailingCountry", "External_Id__c",
        )

        def rows() -> Iterator[tuple]:
            r = self.rng.random
            for index, record_id in enumerate(ids):
                account = int(r() * len(self.account_ids))
                owner = self.pick(self.user_ids)
                created = self.child_created(self.account_created[account])
                first, last = self.person()
                roll = r()
                if roll < MISSING_EMAIL_SHARE:
                    email = None
                elif roll < MISSING_EMAIL_SHARE + SHARED_EMAIL_SHARE and index:
                    email = self.contact_emails[int(r() * index)]
                else:
                    email = f"{first}.{last}{index}@{self.account_domains[account]}".lower()
                sequence = IdFactory.sequence_of(record_id)
                birthdate = self.text.day(self.start_ms - int(r() * 50 * 365) * _DAY_MS - 20 * 365 * _DAY_MS)
                city, state, country = self.pick(CITIES)
                has_address = r() < 0.6
                self.contact_ids.append(record_id)
                self.contact_created.append(created)
                self.contact_emails.append(email)
                self.contacts_of_account[account].append(index)
                yield self.system(record_id, created, owner) + (
                    owner, self.account_ids[account], first, last, f"{first} {last}", email,
                    self.phone() if r() < 0.7 else None, self.pick(TITLES), self.pick(DEPARTMENTS),
                    self.pick(LEAD_SOURCES), birthdate if r() < 0.3 else None, int(r() < 0.05),
                    f"{self.rng.randrange(1, 999)} {self.pick(STREETS)}" if has_address else None,
                    city if has_address else None, state if has_address else None,
                    f"{self.rng.randrange(10000, 99999)}" if has_address else None,
                    country if has_address else None,
                    f"CON-{sequence:09d}" if r() < EXTERNAL_ID_SHARE else None,
                )

        return columns, rows()

    def leads(self, ids: list[str]) -> tuple[tuple, Iterator[tuple]]:
        columns = SYSTEM_COLUMNS + (
            "OwnerId", "FirstName", "LastName", "Name", "Company", "Email", "Phone", "Title", "Status",
            "LeadSource", "Industry", "IsConverted",
        )

        def rows() -> Iterator[tuple]:
            r = self.rng.random
            known_emails = [email for email in self.contact_emails if email]
            for index, record_id in enumerate(ids):
                owner = self.pick(self.user_ids)
                first, last = self.person()
                company = f"{self.pick(COMPANY_WORDS)} {self.pick(COMPANY_KINDS)}"
                if known_emails and r() < 0.02:  # the same person as an existing contact
                    email = self.pick(known_emails)
                else:
                    email = f"{first}.{last}.lead{index}@{company.replace(' ', '')}.example.net".lower()
                yield self.system(record_id, self.root_created(), owner) + (
                    owner, first, last, f"{first} {last}", company, email if r() > 0.02 else None,
                    self.phone(), self.pick(TITLES), self.pick(LEAD_STATUSES), self.pick(LEAD_SOURCES),
                    self.pick(INDUSTRIES), 0,
                )

        return columns, rows()

    def account_and_contact(self) -> tuple[int, int | None]:
        """A random account and one of its contacts (None when it has none)."""
        account = int(self.rng.random() * len(self.account_ids))
        contacts = self.contacts_of_account[account]
        return account, (contacts[int(self.rng.random() * len(contacts))] if contacts else None)

    def tasks(self, ids: list[str]) -> tuple[tuple, Iterator[tuple]]:
        columns = SYSTEM_COLUMNS + (
            "OwnerId", "WhoId", "WhatId", "AccountId", "Subject", "ActivityDate", "Status", "Priority", "Type",
            "Description", "IsClosed",
        )

        def rows() -> Iterator[tuple]:
            r = self.rng.random
            for record_id in ids:
                account, contact = self.account_and_contact()
                parent_created = self.account_created[account]
                if contact is not None:
                    parent_created = max(parent_created, self.contact_created[contact])
                created = self.child_created(parent_created)
                owner = self.pick(self.user_ids)
                status = self.pick(TASK_STATUSES)
                account_id = self.account_ids[account]
                yield self.system(record_id, created, owner) + (
                    owner, self.contact_ids[contact] if contact is not None else None, account_id, account_id,
                    self.pick(TASK_SUBJECTS), self.text.day(created + int(r() * 30) * _DAY_MS), status,
                    self.pick(("High", "Normal", "Normal", "Low")), self.pick(("Call", "Email", "Meeting", "Other")),
                    "Discussed next steps" if r() < 0.3 else None, int(status == "Completed"),
                )

        return columns, rows()

    def notes(self, ids: list[str]) -> tuple[tuple, Iterator[tuple]]:
        columns = SYSTEM_COLUMNS + ("OwnerId", "ParentId", "Title", "Body", "IsPrivate")

        def rows() -> Iterator[tuple]:
            r = self.rng.random
            for record_id in ids:
                account, contact = self.account_and_contact()
                if contact is not None and r() < 0.4:
                    parent, parent_created = self.contact_ids[contact], self.contact_created[contact]
                else:
                    parent, parent_created = self.account_ids[account], self.account_created[account]
                owner = self.pick(self.user_ids)
                yield self.system(record_id, self.child_created(parent_created), owner) + (
                    owner, parent, self.pick(("Meeting notes", "Call summary", "Pricing", "Next steps", "Risk")),
                    "Notes from the last conversation." if r() < 0.9 else None, int(r() < 0.1),
                )

        return columns, rows()

    def cases(self, ids: list[str]) -> tuple[tuple, Iterator[tuple]]:
        columns = SYSTEM_COLUMNS + (
            "OwnerId", "CaseNumber", "AccountId", "ContactId", "Subject", "Description", "Status", "Priority",
            "Origin", "Type", "Reason", "IsClosed", "ClosedDate",
        )
        numbers = self.store.next_case_numbers(len(ids))

        def rows() -> Iterator[tuple]:
            r = self.rng.random
            for record_id, number in zip(ids, numbers, strict=True):
                account, contact = self.account_and_contact()
                parent_created = self.account_created[account]
                if contact is not None:
                    parent_created = max(parent_created, self.contact_created[contact])
                owner = self.pick(self.user_ids)
                system = self.system(record_id, self.child_created(parent_created), owner)
                status = self.pick(CASE_STATUSES)
                closed = status == "Closed"
                yield system + (
                    owner, number, self.account_ids[account],
                    self.contact_ids[contact] if contact is not None else None, self.pick(CASE_SUBJECTS),
                    "Customer reported the issue by phone." if r() < 0.6 else None, status,
                    self.pick(("High", "Medium", "Medium", "Low")), self.pick(("Phone", "Email", "Web")),
                    self.pick(("Question", "Problem", "Feature Request")),
                    self.pick(("Installation", "Equipment Complexity", "Performance", "Breakdown", "Other")),
                    int(closed), system[4] if closed else None,
                )

        return columns, rows()

    def assets(self, ids: list[str]) -> tuple[tuple, Iterator[tuple]]:
        columns = SYSTEM_COLUMNS + (
            "OwnerId", "Name", "AccountId", "ContactId", "SerialNumber", "Status", "Price", "Quantity",
            "PurchaseDate", "InstallDate", "UsageEndDate",
        )

        def rows() -> Iterator[tuple]:
            r = self.rng.random
            for record_id in ids:
                account, contact = self.account_and_contact()
                created = self.child_created(self.account_created[account])
                owner = self.pick(self.user_ids)
                product = self.pick(PRODUCTS)
                sequence = IdFactory.sequence_of(record_id)
                yield self.system(record_id, created, owner) + (
                    owner, f"{product} appliance", self.account_ids[account],
                    self.contact_ids[contact] if contact is not None and r() < 0.5 else None,
                    f"SN-{sequence:010d}", self.pick(ASSET_STATUSES), round(500 + r() * 20_000, 2),
                    float(1 + int(r() * 20)), self.text.day(created), self.text.day(created + 7 * _DAY_MS),
                    self.text.day(created + 365 * _DAY_MS),
                )

        return columns, rows()

    def licenses(self, ids: list[str]) -> tuple[tuple, Iterator[tuple]]:
        columns = SYSTEM_COLUMNS + (
            "OwnerId", "Name", "Account__c", "Product__c", "Seats__c", "Status__c", "Start_Date__c",
            "End_Date__c", "Annual_Value__c",
        )

        def rows() -> Iterator[tuple]:
            r = self.rng.random
            for record_id in ids:
                account = int(r() * len(self.account_ids))
                created = self.child_created(self.account_created[account])
                owner = self.pick(self.user_ids)
                seats = float(5 * (1 + int(r() * 40)))
                yield self.system(record_id, created, owner) + (
                    owner, f"LIC-{IdFactory.sequence_of(record_id):08d}", self.account_ids[account],
                    self.pick(PRODUCTS), seats, self.pick(LICENSE_STATUSES), self.text.day(created),
                    self.text.day(created + 365 * _DAY_MS), round(seats * (200 + r() * 800), 2),
                )

        return columns, rows()

    def projects(self, ids: list[str]) -> tuple[tuple, Iterator[tuple]]:
        columns = SYSTEM_COLUMNS + (
            "OwnerId", "Name", "Account__c", "Status__c", "Budget__c", "Start_Date__c", "Due_Date__c",
            "Description__c",
        )

        def rows() -> Iterator[tuple]:
            r = self.rng.random
            for record_id in ids:
                account = int(r() * len(self.account_ids))
                created = self.child_created(self.account_created[account])
                owner = self.pick(self.user_ids)
                yield self.system(record_id, created, owner) + (
                    owner, f"{self.pick(('Rollout', 'Migration', 'Integration', 'Pilot'))} "
                    f"{IdFactory.sequence_of(record_id)}", self.account_ids[account], self.pick(PROJECT_STATUSES),
                    round(10_000 + r() * 490_000, -2), self.text.day(created),
                    self.text.day(created + int(30 + r() * 180) * _DAY_MS),
                    "Implementation project" if r() < 0.5 else None,
                )

        return columns, rows()
