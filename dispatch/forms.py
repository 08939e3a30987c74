"""Forms: field and cross-field checks, every message in Japanese and shown next to its field.

Names of organisations, operations and duties are resolved here into objects, by dispatch/lookup.py (the
rules the importer and the CLI follow too), so a view receives either a form with errors or everything a
service needs.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from flask import current_app
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from markupsafe import Markup
from sqlalchemy import event, func, select
from wtforms import (
    BooleanField,
    Field,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)

# types-WTForms 3.2 lacks SelectChoice, which WTForms 3.3 has.
from wtforms.fields.choices import Choice, SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import InputRequired, Length, NumberRange, Optional, StopValidation, ValidationError
from wtforms.widgets import Select

from . import lookup
from .entries import EntryDraft, date_problem, latest_entry_date
from .errors import LookupRefused
from .extensions import db
from .limits import MAX_HEADCOUNT, MAX_NOTE, MAX_PERIOD_DAYS, MAX_SENDER_UNIT, date_out_of_bounds
from .models import Disaster, Organisation, OrgKind
from .text import normalise, unsafe_characters_problem
from .wareki import WarekiError, parse_date


class JapaneseForm(FlaskForm):
    class Meta:
        locales = ("ja",)


def parse_bounded_date(text: str) -> date:
    """A date as parse_date reads it, within the dates anyone may type (limits.py); WarekiError otherwise."""
    day = parse_date(text)
    problem = date_out_of_bounds(day)
    if problem:
        raise WarekiError(problem)
    return day


class DateField(StringField):
    """A date typed as 2023-07-20, 2023/7/20 or 令和5年7月20日 (the browser's picker sends the first),
    within the dates anyone may type (limits.py).

    An entry's date is ``bounded=False``: its form checks the narrower range an entry may have
    (_entry_date), whose message names that range, and nothing reads the date of a form that failed.
    """

    def __init__(self, label: str, *, bounded: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("render_kw", {}).setdefault("type", "date")
        super().__init__(label, **kwargs)
        self.date: date | None = None
        self.bounded = bounded

    def process_data(self, value: Any) -> None:
        """Initial values: a date, or text from a link (?date=...) that may not parse."""
        self.date = value if isinstance(value, date) else None
        self.data = value.isoformat() if isinstance(value, date) else (value or "")
        if isinstance(value, str) and value:
            try:
                self.date = parse_bounded_date(value)
            except WarekiError:
                self.date = None

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        self.date = None
        if self.data:
            try:
                self.date = parse_bounded_date(self.data) if self.bounded else parse_date(self.data)
            except WarekiError as exc:
                raise ValueError(str(exc)) from exc

    def _value(self) -> str:
        if self.date is not None:
            return self.date.isoformat()
        return super()._value()  # type: ignore[misc]  # Field._value exists; types-WTForms omits it


# Digits only: int() would also read "1_000", "+5" and the digits of other scripts ("١٢").
_DIGITS = re.compile(r"[0-9]{1,9}")


class CountField(IntegerField):
    """A headcount: ASCII digits, full-width ones too (NFKC makes them ASCII), the message in Japanese."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None
            return
        text = normalise(str(valuelist[0])).removesuffix("人").strip()
        if not _DIGITS.fullmatch(text):
            self.data = None
            raise ValueError("人数は半角数字で入力してください。")
        self.data = int(text)

    def pre_validate(self, form: Any) -> None:
        # Text that is not a number is one error, not also "out of range" from the validators.
        if self.process_errors:
            raise StopValidation()


class QuickSelect(Select):
    """wtforms' Select with each plain option rendered once per process: every entry form shows the same
    duties and operations, and wtforms builds each <option> anew (some 10 µs each, about a third of the
    form's fields on the page an entry POST redirects to)."""

    # types-WTForms 3.2 has the pre-3.3 signature, (value, label, selected); WTForms 3.3 passes a Choice.
    @classmethod
    def render_option(cls, choice: Choice, **kwargs: Any) -> Markup:  # type: ignore[override]
        if (
            kwargs
            or choice.render_kw
            or not isinstance(choice.value, str)
            or not isinstance(choice.label, str)
        ):
            return super().render_option(choice, **kwargs)
        return _option(choice.value, choice.label, bool(choice.selected))


@lru_cache(maxsize=4096)
def _option(value: str, label: str, selected: bool) -> Markup:
    return Select.render_option(Choice(value, label, selected, {}))  # type: ignore[call-arg]


class VisibleText:
    """Refuse control, bidirectional and invisible characters (text.unsafe_characters_problem says why
    refused rather than stripped); tab and line breaks only where ``multiline``."""

    def __init__(self, *, multiline: bool = False) -> None:
        self.multiline = multiline

    def __call__(self, form: Any, field: Field) -> None:
        problem = unsafe_characters_problem(field.label.text, field.data or "", multiline=self.multiline)
        if problem:
            raise ValidationError(problem)


def reason_field() -> StringField:
    """Why a closed (確定) day is changed: required by the service only when one is touched."""
    return StringField(
        "変更理由",
        validators=[Length(max=500, message="理由は500文字以内で入力してください。"), VisibleText()],
        filters=[lambda v: v.strip() if v else ""],
        description="締め済み（確定）の日を変更する場合は必須です。",
    )


def required(label: str) -> InputRequired:
    return InputRequired(message=f"{label}を入力してください。")


class OrganisationField(StringField):
    """Free text with a datalist of every organisation; resolved to one Organisation on validation."""

    def __init__(self, label: str, **kwargs: Any) -> None:
        kwargs.setdefault("render_kw", {}).update(list="organisations", autocomplete="off")
        super().__init__(label, **kwargs)
        self.organisation: Organisation | None = None

    def pre_validate(self, form: Any) -> None:
        self.organisation = None
        if not self.data:
            return
        try:
            self.organisation = lookup.find_organisation(self.data, named=_named(form))
        except LookupRefused as exc:
            if exc.candidates:
                raise ValidationError(str(exc)) from None
            raise ValidationError(f"{exc}候補から選ぶか、団体コードを入力してください。") from None

    def _value(self) -> str:
        if self.organisation is not None:
            return self.organisation.label
        return super()._value()  # type: ignore[misc]  # Field._value exists; types-WTForms omits it


def _named(form: Any) -> dict[str, Organisation]:
    """The codes every organisation field of the form holds, looked up in one statement when the first field
    is validated (an entry names a sender and a destination)."""
    texts = tuple(f.data for f in form if isinstance(f, OrganisationField) and f.data)
    known = getattr(form, "_organisations_named", None)
    if known is None or known[0] != texts:
        known = (texts, lookup.organisations_named(texts))
        form._organisations_named = known
    return known[1]


# The datalist as HTML, kept by each app (each worker): a national list has some 1,800 organisations, and
# every entry form shows it. A change this process makes to an organisation is seen at once (the mapper
# events below); one made by another process (a worker, the CLI's master data) within _DATALIST_RECHECK_S,
# when a count over the organisations shows one added or deactivated; a rename within the lifetime.
_DATALIST = "dispatch_organisation_datalist"
_DATALIST_RECHECK_S = 10.0
_DATALIST_LIFETIME_S = 300.0
# Organisations inserted, updated or deleted through this process's sessions so far.
_organisation_changes = 0


@dataclass
class _Datalist:
    html: Markup
    key: tuple[int, int | None]  # how many organisations are offered, and the last id
    built: float
    checked: float
    changes: int


@event.listens_for(Organisation, "after_insert")
@event.listens_for(Organisation, "after_update")
@event.listens_for(Organisation, "after_delete")
def _organisation_changed(*_: object) -> None:
    global _organisation_changes
    _organisation_changes += 1


def organisation_datalist() -> Markup:
    """Every organisation a new entry may name in a <datalist>, which makes the sender and destination
    fields searchable: not a designated city's ward (part of its city), not a deactivated body."""
    cached: _Datalist | None = current_app.extensions.get(_DATALIST)
    now = time.monotonic()
    changes = _organisation_changes
    if cached is not None and cached.changes == changes and now - cached.checked < _DATALIST_RECHECK_S:
        return cached.html
    org = Organisation.__table__.c
    offered = (org.kind != OrgKind.WARD.value) & org.active.is_(True)
    count, last_id = db.session.execute(select(func.count(), func.max(org.id)).where(offered)).one()
    key = (int(count), last_id)
    if cached is None or cached.key != key or now - cached.built > _DATALIST_LIFETIME_S:
        rows = db.session.execute(select(org.code, org.name, org.kana).where(offered).order_by(org.code))
        option = Markup('<option value="{} {}">{}</option>')
        options = Markup("").join(option.format(code, name, kana) for code, name, kana in rows)
        html = Markup('<datalist id="organisations">{}</datalist>').format(options)
        cached = _Datalist(html, key, built=now, checked=now, changes=changes)
        current_app.extensions[_DATALIST] = cached
    else:
        cached.checked, cached.changes = now, changes
    return cached.html


def operation_choices(disaster: Disaster) -> list[tuple[str, str]]:
    return [(op.code, f"{op.name}（終了）" if op.end_date else op.name) for op in disaster.operations]


def duty_choices(duties: lookup.Duties | None = None) -> list[tuple[str, str]]:
    return [(d.code, d.name_ja) for d in (duties or lookup.Duties.load()).every]


class EntryFields(JapaneseForm):
    """The fields every kind of entry shares; subclasses add the date or the period."""

    operation = SelectField("派遣区分", validators=[required("派遣区分")], widget=QuickSelect())
    sender = OrganisationField("派遣元", validators=[required("派遣元")])
    sender_unit = StringField(
        "所属",
        validators=[
            Optional(),
            Length(max=MAX_SENDER_UNIT, message=f"所属は{MAX_SENDER_UNIT}文字以内で入力してください。"),
            VisibleText(),
        ],
        filters=[lambda v: normalise(v) if v else ""],
        description="任意。例: 総務部総合防災課",
    )
    destination = OrganisationField("派遣先", validators=[required("派遣先")])
    duty = SelectField("業務", validators=[required("業務")], widget=QuickSelect())
    headcount = CountField(
        "人数",
        validators=[
            required("人数"),
            NumberRange(
                min=1, max=MAX_HEADCOUNT, message=f"人数は1以上{MAX_HEADCOUNT:,}以下で入力してください。"
            ),
        ],
        render_kw={"min": 1, "inputmode": "numeric"},
    )
    note = TextAreaField(
        "備考",
        validators=[
            Length(max=MAX_NOTE, message=f"備考は{MAX_NOTE:,}文字以内で入力してください。"),
            VisibleText(multiline=True),
        ],
        filters=[lambda v: v.strip() if v else ""],
        render_kw={"rows": 2},
    )
    reason = reason_field()

    def __init__(self, disaster: Disaster, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.disaster = disaster
        self.operation.choices = operation_choices(disaster)
        # Loaded once: the choices, then draft()'s look-up of the chosen one.
        self.duties = lookup.Duties.load()
        self.duty.choices = duty_choices(self.duties)

    def validate_destination(self, field: OrganisationField) -> None:
        if field.organisation is not None and field.organisation is self.sender.organisation:
            raise ValidationError("派遣元と派遣先が同じです。")

    def draft(self, day: date) -> EntryDraft:
        # The choices hold codes, and validation has checked the posted code is one of them.
        operation = lookup.find_operation(self.disaster, self.operation.data or "")
        duty = self.duties.find(self.duty.data or "")
        assert self.sender.organisation and self.destination.organisation
        return EntryDraft(
            date=day,
            operation=operation,
            sender=self.sender.organisation,
            sender_unit=self.sender_unit.data or "",
            destination=self.destination.organisation,
            duty=duty,
            headcount=int(self.headcount.data or 0),
            note=self.note.data or "",
        )


def _entry_date(disaster: Disaster, field: DateField) -> None:
    """An entry's date: from the disaster's start to a few days ahead (entries.date_problem)."""
    if field.date is None:
        return
    problem = date_problem(field.date, disaster.start_date, latest_entry_date())
    if problem:
        raise ValidationError(problem)


class EntryForm(EntryFields):
    date = DateField("日付", validators=[required("日付")], bounded=False)

    def validate_date(self, field: DateField) -> None:
        _entry_date(self.disaster, field)


class PeriodForm(EntryFields):
    date_from = DateField("開始日", validators=[required("開始日")], bounded=False)
    date_to = DateField("終了日", validators=[required("終了日")], bounded=False)
    skip_holidays = BooleanField(
        "土日祝日を除く", description="土曜日・日曜日・国民の祝日（振替休日を含む）は登録しません。"
    )
    confirmed = HiddenField()

    def validate_date_from(self, field: DateField) -> None:
        _entry_date(self.disaster, field)

    def validate_date_to(self, field: DateField) -> None:
        _check_range(self.date_from, field)
        _entry_date(self.disaster, field)

    @property
    def days(self) -> int:
        if self.date_from.date is None or self.date_to.date is None:
            return 0
        return (self.date_to.date - self.date_from.date).days + 1


def _check_range(start: DateField, end: DateField) -> None:
    if start.date is None or end.date is None:
        return
    if end.date < start.date:
        raise ValidationError(f"{end.label.text}が{start.label.text}より前です。")
    if (end.date - start.date).days + 1 > MAX_PERIOD_DAYS:
        raise ValidationError(f"期間は{MAX_PERIOD_DAYS}日以内にしてください。")


class CopyDayForm(JapaneseForm):
    source = DateField("コピー元の日付", validators=[required("コピー元の日付")])
    target_from = DateField("コピー先（開始日）", validators=[required("コピー先（開始日）")], bounded=False)
    target_to = DateField("コピー先（終了日）", validators=[Optional()], bounded=False)
    operation = SelectField("派遣区分で絞り込み", validators=[Optional()])
    sender = OrganisationField("派遣元で絞り込み", validators=[Optional()])
    destination = OrganisationField("派遣先で絞り込み", validators=[Optional()])
    reason = reason_field()
    confirmed = HiddenField()

    def __init__(self, disaster: Disaster, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.disaster = disaster
        self.operation.choices = [("", "すべて"), *operation_choices(disaster)]

    def validate_target_from(self, field: DateField) -> None:
        _entry_date(self.disaster, field)
        if field.date is not None and field.date == self.source.date:
            raise ValidationError("コピー元と同じ日です。")

    def validate_target_to(self, field: DateField) -> None:
        _check_range(self.target_from, field)
        _entry_date(self.disaster, field)
        if (
            field.date is not None
            and self.target_from.date is not None
            and self.source.date is not None
            and self.target_from.date <= self.source.date <= field.date
        ):
            raise ValidationError("コピー先の期間にコピー元の日が含まれています。")


class ImportForm(JapaneseForm):
    file = FileField(
        "ファイル（.csv / .xlsx）",
        validators=[FileRequired(message="ファイルを選んでください。")],
        render_kw={"accept": ".csv,.xlsx"},
    )
    encoding = SelectField(
        "文字コード（CSV）",
        choices=[
            SelectChoice("auto", "自動判定"),
            SelectChoice("utf-8", "UTF-8"),
            SelectChoice("cp932", "Shift_JIS（CP932）"),
        ],
        default="auto",
    )
    reason = reason_field()


class DeleteForm(JapaneseForm):
    """Deleting is a POST from the confirmation page."""

    reason = reason_field()


def closing_reason_field() -> StringField:
    """Why a day is closed although its roster and typed headcounts disagree: required by closing.py only
    for such a day."""
    return StringField(
        "締める理由",
        validators=[Length(max=500, message="理由は500文字以内で入力してください。"), VisibleText()],
        filters=[lambda v: v.strip() if v else ""],
        description="名簿と入力の人数が一致しない日を締める場合は必須です。",
    )


class CloseDayForm(JapaneseForm):
    day = DateField("締める日", validators=[required("締める日")])
    reason = closing_reason_field()
    submit = SubmitField("締める（確定）")


class ReopenDayForm(JapaneseForm):
    day = DateField("取り消す日", validators=[required("取り消す日")])
    reason = StringField(
        "取消しの理由",
        validators=[
            required("取消しの理由"),
            Length(max=500, message="理由は500文字以内で入力してください。"),
            VisibleText(),
        ],
        filters=[lambda v: v.strip() if v else ""],
    )
    submit = SubmitField("締めを取り消す")


def field_list(form: FlaskForm) -> list[Field]:
    return [f for f in form if f.type not in ("CSRFTokenField", "HiddenField")]


class DayGridForm(JapaneseForm):
    """The day grid's date (or range) and reason; its rows are read by day_grid.rows_from_form, row by row."""

    date = DateField("日付", validators=[required("日付")], bounded=False)
    date_to = DateField("終了日（期間で登録するとき）", validators=[Optional()], bounded=False)
    reason = reason_field()

    def __init__(self, disaster: Disaster, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.disaster = disaster

    def validate_date(self, field: DateField) -> None:
        _entry_date(self.disaster, field)

    def validate_date_to(self, field: DateField) -> None:
        _check_range(self.date, field)
        _entry_date(self.disaster, field)
