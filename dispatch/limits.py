"""The limits on what a person may enter, one set for every way in: forms, imports, the CLI, the database."""

from __future__ import annotations

# Persons on duty in one entry (the database's CHECK headcount_plausible says the same).
MAX_HEADCOUNT = 10_000
# Days one period entry or one copy may cover.
MAX_PERIOD_DAYS = 366
# Characters of an entry's sender unit (所属) and note (備考).
MAX_SENDER_UNIT = 100
MAX_NOTE = 1_000
