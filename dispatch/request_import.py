"""Import requests (要請) from a .csv or .xlsx: every row or none, every bad line named.

Columns, English or Japanese: request_no/要請番号, received/受付日, requester/要請元, route/区分, duty/業務,
job_type/職種, persons/人数, from/開始日, to/終了日, fiscal_year/年度, place/勤務場所, status/状況, note/備考.
Rows sharing a request number are revisions of one request, each applying from its 開始日: the earliest
creates the request, the later ones revise it, and a row whose 状況 is 取下げ withdraws it from its 開始日.
The file is read by sheets.py (UTF-8, UTF-8 with BOM, CP932; .xlsx's first sheet), checked whole without the
write lock (`check_requests`) and written under it (`write_requests`), like the dispatch import.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import attrgetter

from sqlalchemy import select

from .actors import Actor
from .errors import ImportRefused
from .extensions import db
from .importing import _plain, _shown
from .limits import MAX_IMPORT_NAME, MAX_NOTE
from .lookup import Duties, LookupRefused, Organisations
from .models import Disaster, Duty, Organisation
from .request_models import RequestState, Route, StaffRequest
from .requests import (
    RequestDraft,
    RequestRefused,
    check_figures,
    create_request,
    revise_request,
    set_state,
    withdraw_request,
)
from .sheets import RowError, read_rows, refused
from .text import normalise, unsafe_characters_problem
from .wareki import WarekiError, parse_date

# (field, Japanese header, required)
COLUMNS = (
    ("request_no", "要請番号", True),
    ("received", "受付日", True),
    ("requester", "要請元", True),
    ("route", "区分", True),
    ("duty", "業務", False),
    ("job_type", "職種", False),
    ("persons", "人数", True),
    ("from", "開始日", True),
    ("to", "終了日", True),
    ("fiscal_year", "年度", False),
    ("place", "勤務場所", False),
    ("status", "状況", False),
    ("note", "備考", False),
)
HEADER = tuple(label for _, label, _ in COLUMNS)
_BY_HEADER = {normalise(name).lower(): field for field, label, _ in COLUMNS for name in (field, label)}
_LABEL = {field: label for field, label, _ in COLUMNS}

# What people write in 区分, by the words it contains, most specific first.
_ROUTE_WORDS = (
    ("対口", Route.COUNTERPART),
    ("総括", Route.GENERAL_SUPPORT),
    ("知事会", Route.GOVERNORS),
    ("252条の17", Route.LONG_TERM),
    ("中長期", Route.LONG_TERM),
    ("協定", Route.AGREEMENT),
    ("その他", Route.OTHER),
)
_STATES = {
    "要請中": RequestState.OPEN,
    "調整中": RequestState.COORDINATING,
    "取下げ": RequestState.WITHDRAWN,
    "取り下げ": RequestState.WITHDRAWN,
    "終了": RequestState.CLOSED,
    **{state.value: state for state in RequestState},
}


@dataclass(frozen=True)
class RequestRow:
    line: int
    draft: RequestDraft
    state: RequestState | None


@dataclass(frozen=True)
class CheckedRequests:
    """Each request number's rows, earliest 開始日 first."""

    groups: dict[str, list[RequestRow]]


class _Bad(Exception):
    pass


def check_requests(
    disaster: Disaster, data: bytes, filename: str, *, encoding: str = "auto"
) -> CheckedRequests:
    rows = read_rows(data, filename, encoding)
    header_line, header = next(rows, (0, []))
    if not header:
        raise refused(0, "ファイルが空です")
    positions = _positions(header_line, header)
    reader = _Reader()
    errors: list[RowError] = []
    groups: dict[str, list[RequestRow]] = defaultdict(list)
    for line, cells in rows:
        cells = [*cells, *([None] * (len(header) - len(cells)))]
        row = reader.read(line, {field: cells[i] for field, i in positions.items()}, errors)
        if row is not None:
            groups[row.draft.number].append(row)
    if not groups and not errors:
        raise refused(0, "取り込む行がありません（見出し行だけです）")
    for number, group in groups.items():
        group.sort(key=lambda r: (r.draft.date_from, r.line))
        errors.extend(_group_problems(number, group))
    taken = set(
        db.session.scalars(
            select(StaffRequest.number).where(
                StaffRequest.disaster_id == disaster.id, StaffRequest.number.in_(list(groups))
            )
        )
    )
    for number in sorted(taken):
        first = groups[number][0].line
        errors.append(
            RowError(first, f"要請番号「{number}」は登録済みです（改訂は要請の画面から登録します）")
        )
    if errors:
        raise ImportRefused(sorted(errors, key=attrgetter("line")))
    return CheckedRequests(dict(groups))


def write_requests(disaster: Disaster, checked: CheckedRequests, actor: Actor) -> list[StaffRequest]:
    """Under the write lock: each request with its revisions; flushes, never commits."""
    made = []
    for group in checked.groups.values():
        first, *later = group
        request = create_request(disaster, first.draft, actor)
        for row in later:
            if row.state is RequestState.WITHDRAWN:
                continue
            d = row.draft
            revise_request(
                request,
                actor,
                persons=d.persons,
                date_from=d.date_from,
                date_to=d.date_to,
                fiscal_year=d.fiscal_year,
                note=d.note,
            )
        for row in group:
            if row.state is RequestState.WITHDRAWN:
                withdraw_request(request, row.draft.date_from, actor, row.draft.note)
            elif row.state in (RequestState.COORDINATING, RequestState.CLOSED):
                set_state(request, row.state, actor)
        made.append(request)
    return made


def _positions(line: int, header: Sequence[object]) -> dict[str, int]:
    found: dict[str, int] = {}
    errors = []
    for position, cell in enumerate(header):
        name = _plain(cell)
        if not name:
            continue
        field = _BY_HEADER.get(normalise(name).lower()) if len(name) <= MAX_IMPORT_NAME else None
        if field is None:
            errors.append(RowError(line, f"不明な列「{_shown(name)}」があります"))
        elif field in found:
            errors.append(RowError(line, f"列「{_LABEL[field]}」が重複しています"))
        else:
            found[field] = position
    for field, label, required in COLUMNS:
        if required and field not in found:
            errors.append(RowError(line, f"必須の列「{label}」（{field}）がありません"))
    if errors:
        raise ImportRefused(errors)
    return found


def _group_problems(number: str, group: list[RequestRow]) -> list[RowError]:
    """Rows of one request must agree on who asks, by which route, for what; and start on different days."""
    first = group[0]
    problems = []
    seen: dict[date, int] = {}
    for row in group:
        d, f = row.draft, first.draft
        if (d.requester.id, d.route, d.duty and d.duty.id, d.job_type) != (
            f.requester.id,
            f.route,
            f.duty and f.duty.id,
            f.job_type,
        ):
            problems.append(
                RowError(
                    row.line, f"要請番号「{number}」の要請元・区分・業務・職種が{first.line}行目と異なります"
                )
            )
        if d.date_from in seen:
            problems.append(
                RowError(row.line, f"要請番号「{number}」の開始日が{seen[d.date_from]}行目と同じです")
            )
        seen.setdefault(d.date_from, row.line)
    if first.state is RequestState.WITHDRAWN:
        problems.append(RowError(first.line, f"要請番号「{number}」の最初の行が取下げです"))
    return problems


class _Reader:
    def __init__(self) -> None:
        self._organisations = Organisations.load(many=True)
        self._duties = Duties.load()

    def read(self, line: int, cells: dict[str, object], errors: list[RowError]) -> RequestRow | None:
        bad: list[str] = []

        def cell(reader: object, field: str) -> object:
            try:
                return reader(cells.get(field))  # type: ignore[operator]
            except _Bad as exc:
                bad.append(str(exc))
                return None

        number = cell(lambda v: _text("request_no", v, required=True), "request_no")
        received = cell(lambda v: _date("received", v), "received")
        requester = cell(self._organisation, "requester")
        route = cell(_route, "route")
        duty = cell(self._duty, "duty")
        job_type = cell(lambda v: _text("job_type", v, limit=50), "job_type")
        persons = cell(_persons, "persons")
        start = cell(lambda v: _date("from", v), "from")
        end = cell(lambda v: _date("to", v), "to")
        fiscal_year = cell(_fiscal_year, "fiscal_year")
        place = cell(lambda v: _text("place", v, limit=200), "place")
        state = cell(_state, "status")
        note = cell(lambda v: _text("note", v, limit=MAX_NOTE, multiline=True), "note")
        if bad:
            errors.extend(RowError(line, message) for message in bad)
            return None
        assert isinstance(route, Route) and isinstance(requester, Organisation)
        draft = RequestDraft(
            number=str(number),
            requester=requester,
            received_on=received,  # type: ignore[arg-type]
            route=route,
            duty=duty if isinstance(duty, Duty) else None,
            persons=persons,  # type: ignore[arg-type]
            date_from=start,  # type: ignore[arg-type]
            date_to=end,  # type: ignore[arg-type]
            fiscal_year=fiscal_year if isinstance(fiscal_year, int) else None,
            job_type=str(job_type),
            place=str(place),
            note=str(note),
        )
        problems = []
        if route is not Route.LONG_TERM and draft.duty is None:
            problems.append("業務が入力されていません（中長期の要請のほかは必須です）")
        try:
            check_figures(route, draft.persons, draft.date_from, draft.date_to, draft.fiscal_year)
        except RequestRefused as refusal:
            problems.append(str(refusal))
        if problems:
            errors.extend(RowError(line, message) for message in problems)
            return None
        return RequestRow(line, draft, state if isinstance(state, RequestState) else None)

    def _organisation(self, value: object) -> Organisation:
        text = _text("requester", value, required=True)
        try:
            return self._organisations.find(text, role="要請元")
        except LookupRefused as exc:
            raise _Bad(
                str(exc)
                if exc.candidates
                else f"要請元「{normalise(text)}」が見つかりません（団体コードまたは名称）"
            ) from None

    def _duty(self, value: object) -> Duty | None:
        text = _text("duty", value)
        if not text:
            return None
        try:
            return self._duties.find(text, role="業務")
        except LookupRefused as exc:
            raise _Bad(
                str(exc)
                if exc.candidates
                else f"業務「{normalise(text)}」が見つかりません（業務コードまたは名称）"
            ) from None


def _text(
    field: str,
    value: object,
    *,
    required: bool = False,
    limit: int = MAX_IMPORT_NAME,
    multiline: bool = False,
) -> str:
    text = _plain(value)
    label = _LABEL[field]
    if not text:
        if required:
            raise _Bad(f"{label}が入力されていません")
        return ""
    if len(text) > limit:
        raise _Bad(f"{label}は{limit:,}文字以内で入力してください。")
    problem = unsafe_characters_problem(label, text, multiline=multiline)
    if problem:
        raise _Bad(problem)
    return text if multiline else normalise(text)


def _date(field: str, value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(field, value, required=True)
    try:
        return parse_date(text)
    except WarekiError as exc:
        raise _Bad(f"{_LABEL[field]}「{text}」: {exc}") from None


def _route(value: object) -> Route:
    text = _text("route", value, required=True)
    if text in {r.value for r in Route}:
        return Route(text)
    for word, route in _ROUTE_WORDS:
        if word in text:
            return route
    raise _Bad(
        f"区分「{text}」が分かりません（相互応援協定、対口支援、総括支援、全国知事会、中長期、その他）"
    )


def _whole_number(field: str, value: object) -> int:
    if isinstance(value, bool):
        raise _Bad(f"{_LABEL[field]}「{value}」が数値ではありません")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return value
    text = normalise(_text(field, value, required=True)).removesuffix("人").removesuffix("年度").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise _Bad(f"{_LABEL[field]}「{_shown(value)}」が数値ではありません")
    return int(text)


def _persons(value: object) -> int:
    return _whole_number("persons", value)


def _fiscal_year(value: object) -> int | None:
    if not _plain(value):
        return None
    year = _whole_number("fiscal_year", value)
    if not 1989 <= year <= 2100:
        raise _Bad(f"年度「{year}」は2024の形で入力してください")
    return year


def _state(value: object) -> RequestState | None:
    text = _text("status", value)
    if not text:
        return None
    state = _STATES.get(text)
    if state is None:
        raise _Bad(f"状況「{text}」が分かりません（要請中、調整中、取下げ、終了）")
    return state
