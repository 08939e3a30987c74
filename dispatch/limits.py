"""The limits on what a person may enter, one set for every way in: forms, imports, the CLI, the database."""

from __future__ import annotations

from datetime import date

from .wareki import format_long

# Persons on duty in one entry (the database's CHECK headcount_plausible says the same).
MAX_HEADCOUNT = 10_000
# Days one period entry or one copy may cover.
MAX_PERIOD_DAYS = 366
# Characters of an entry's sender unit (所属) and note (備考).
MAX_SENDER_UNIT = 100
MAX_NOTE = 1_000
# Any date a person types or asks for, in a form or a URL: well inside what 和暦 can write (from 昭和) and
# what every date computation can reach (0001-01-01 and 9999-12-31 overflow a day's arithmetic).
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)
# Ids and page numbers in URLs: a PostgreSQL integer (and far below SQLite's 64 bits).
MAX_ID = 2**31 - 1


def date_out_of_bounds(day: date) -> str | None:
    """Why a date nobody can mean is refused, in Japanese; None for a date within the bounds."""
    if EARLIEST_DATE <= day <= LATEST_DATE:
        return None
    return f"{format_long(EARLIEST_DATE)}から{format_long(LATEST_DATE)}までの日付にしてください。"


# An imported file (.csv or .xlsx, sheets.py), bounded before and while it is read: one set for the web and
# the CLI. Rows: twice the 100,000 the benchmarks import; a larger rota is split into several files. Cells
# bound the time an .xlsx takes: openpyxl reads 16,000-40,000 cells a second (a 100,000-row sheet of 8
# columns in 19 s), so the largest .xlsx within the bounds takes one to two minutes of one worker thread,
# holding no lock (the file is read before the write lock is taken). A CSV reads ten times faster.
# The .xlsx bounds are checked on the zip's directory before a byte is inflated (a 2 MB file that would
# inflate to 500 MB is refused in under a millisecond): a sheet Excel or openpyxl writes compresses 13-16:1,
# a zip bomb 200-1,000:1.
MAX_IMPORT_BYTES = 32 * 1024 * 1024
MAX_IMPORT_ROWS = 200_000
MAX_IMPORT_COLUMNS = 50
# Cells read, counting the empty ones a sheet pads a row with (a row may name its last cell XFD).
MAX_IMPORT_CELLS = MAX_IMPORT_ROWS * 10
# Characters of a name, code, date or headcount in an imported cell: far beyond any real one, so nothing
# longer is looked up or repeated in a message.
MAX_IMPORT_NAME = 200
XLSX_MAX_UNCOMPRESSED = 200 * 1024 * 1024
XLSX_MAX_PARTS = 1_000
XLSX_MAX_RATIO = 100
# Parts smaller than this may compress better than XLSX_MAX_RATIO: their size alone bounds them.
XLSX_RATIO_FROM = 1024 * 1024

# An .xlsx export of more entries than this is built by the scheduler process as a job, with a progress
# page (export_jobs.py): openpyxl writes about 20,000-40,000 entries a second on a busy machine, so a
# workbook this size is sent in a few seconds, and a larger one would keep a request (and nginx's 60 s
# proxy timeout) waiting. DISPATCH_EXPORT_JOB_ROWS overrides it (config.py); CSV always streams.
EXPORT_JOB_ROWS = 50_000
# Hours a built workbook is kept for its download before it is removed.
EXPORT_JOB_KEEP_HOURS = 24

# Requests on the dashboard's request board, the most short first: a national disaster has thousands asking
# on a day, and each row shown reads its destination × duty's history (request_board.py). The rest are on
# the requests list and the fill page.
BOARD_ROWS = 20
