"""The one family of refusals: what a person asked for cannot be done, said in Japanese, nothing written.

Every use case raises one of these; the page, the CLI command or the job that called it shows the message
as it is (next to the form, as a command's error, in the job's log). ``status`` is the HTTP status a page
answers with. Faults of the machine (SMTP down, disk full) are not refusals: they have their own errors
where they happen (mail.MailError, backup.BackupError).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol


class Refusal(Exception):
    """A refusal to show the user as it is: the message is Japanese and names what is wrong."""

    status = 422


EntryKey = tuple[int, date, int, str, int, int]


BUSY_MESSAGE = "混み合っています。しばらくしてからもう一度お試しください。"


class Busy(Refusal):
    """The write lock stayed taken past WRITE_LOCK_TIMEOUT_SECONDS (write_lock.py): nothing was written, and
    the same request will succeed once the writer before it is done."""

    status = 503

    def __init__(self, message: str = BUSY_MESSAGE) -> None:
        super().__init__(message)


class DuplicateEntry(Refusal):
    """One or more drafts repeat an entry that exists, or repeat each other."""

    status = 409

    def __init__(self, message: str, keys: Sequence[EntryKey]) -> None:
        super().__init__(message)
        self.keys = list(keys)


class ClosingError(Refusal):
    """A day cannot be closed, reopened or changed as asked (締め)."""


class ReasonRequired(ClosingError):
    """A day whose roster and typed headcounts disagree is closed only with a reason (disagreements.py):
    the page shows the message next to the reason field."""


class LookupRefused(Refusal):
    """What was typed names no organisation, operation or duty, or more than one (the candidates)."""

    def __init__(self, message: str, candidates: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.candidates = list(candidates)


class Problem(Protocol):
    """One problem of a refused file, naming its line."""

    def describe(self) -> str: ...


# The refusal's own message names this many problems; the import page shows the first 100 and offers every
# one as a CSV (pages/imports.py), the command prints every one.
PROBLEMS_IN_MESSAGE = 10


class ImportRefused(Refusal):
    """The file was refused and nothing was written; ``errors`` lists every problem, by line."""

    def __init__(self, errors: Sequence[Problem]) -> None:
        shown = [e.describe() for e in errors[:PROBLEMS_IN_MESSAGE]]
        if len(errors) > PROBLEMS_IN_MESSAGE:
            shown.append(f"ほか{len(errors) - PROBLEMS_IN_MESSAGE}件")
        super().__init__("\n".join([f"取り込めません（{len(errors)}件のエラー）", *shown]))
        self.errors = list(errors)
