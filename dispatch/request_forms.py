"""Forms of the request pages: field and cross-field checks, messages in Japanese next to their fields.
Organisations and duties resolve through the one look-up (forms.OrganisationField, duty choices)."""

from __future__ import annotations

from typing import Any

from wtforms import IntegerField, SelectField, StringField, TextAreaField

# types-WTForms 3.2 lacks SelectChoice, which WTForms 3.3 has.
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from . import lookup
from .forms import CountField, DateField, JapaneseForm, OrganisationField, VisibleText, duty_choices, required
from .limits import MAX_NOTE
from .models import Duty
from .request_models import ROUTE_LABELS, STATE_LABELS, RequestState, Route
from .requests import MAX_PERSONS, RequestDraft, fiscal_year_span
from .text import normalise


def _text(label: str, limit: int, *, multiline: bool = False, required_: bool = False) -> Any:
    validators: list[Any] = [required(label)] if required_ else [Optional()]
    validators += [Length(max=limit, message=f"{label}は{limit:,}文字以内で入力してください。")]
    validators.append(VisibleText(multiline=multiline))
    field = TextAreaField if multiline else StringField
    return field(
        label,
        validators=validators,
        filters=[lambda v: (v.strip() if multiline else normalise(v)) if v else ""],
        render_kw={"rows": 2} if multiline else {},
    )


def _persons(label: str = "人数", minimum: int = 0) -> CountField:
    return CountField(
        label,
        validators=[
            required(label),
            NumberRange(
                min=minimum,
                max=MAX_PERSONS,
                message=f"人数は{minimum}以上{MAX_PERSONS:,}以下で入力してください。",
            ),
        ],
        render_kw={"min": minimum, "inputmode": "numeric"},
    )


def _fiscal_year() -> IntegerField:
    return IntegerField(
        "年度（中長期）",
        validators=[
            Optional(),
            NumberRange(min=1989, max=2100, message="年度は2024の形で入力してください。"),
        ],
        description="中長期（地方自治法第252条の17）のときだけ。人数はその年度の人数です。",
    )


class FiguresMixin:
    """Persons and period, checked against each other: the end on or after the start, within the year."""

    def check_figures(self, long_term: bool) -> bool:
        form: Any = self
        ok = True
        start, end = form.date_from.date, form.date_to.date
        if start is not None and end is not None and end < start:
            form.date_to.errors.append("終了日が開始日より前です。")
            ok = False
        year = form.fiscal_year.data
        if long_term and year is None:
            form.fiscal_year.errors.append("中長期の要請には年度を入力してください。")
            ok = False
        elif not long_term and year is not None:
            form.fiscal_year.errors.append("年度は中長期の要請にだけ入力します。")
            ok = False
        elif long_term and start and end and year:
            first, last = fiscal_year_span(year)
            if start < first or end > last:
                form.date_to.errors.append(f"期間は{year}年度の内にしてください。")
                ok = False
        return ok


class RequestForm(JapaneseForm, FiguresMixin):
    number = _text("要請番号", 40, required_=True)
    requester = OrganisationField("要請元（被災団体）", validators=[required("要請元")])
    received_on = DateField("受付日", validators=[required("受付日")])
    route = SelectField("区分", choices=[SelectChoice(r.value, label) for r, label in ROUTE_LABELS.items()])
    duty = SelectField("業務", validators=[Optional()])
    job_type = _text("職種", 50)
    persons = _persons("人数（1日あたり／中長期は年度の人数）")
    date_from = DateField("開始日", validators=[required("開始日")])
    date_to = DateField("終了日", validators=[required("終了日")])
    fiscal_year = _fiscal_year()
    place = _text("勤務場所", 200)
    reason = _text("理由", MAX_NOTE, multiline=True)
    conditions = _text("勤務条件", MAX_NOTE, multiline=True)
    lodging = _text("宿泊・食事", MAX_NOTE, multiline=True)
    note = _text("備考", MAX_NOTE, multiline=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.duty.choices = [("", "（中長期で職種のみ）"), *duty_choices()]

    def validate_duty(self, field: SelectField) -> None:
        if not field.data and self.route.data != Route.LONG_TERM.value:
            raise ValidationError("業務を選んでください（中長期の要請のほかは必須です）。")

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        return self.check_figures(self.route.data == Route.LONG_TERM.value) and valid

    def selected_duty(self) -> Duty | None:
        return lookup.find_duty(self.duty.data) if self.duty.data else None

    def draft(self) -> RequestDraft:
        assert (
            self.requester.organisation
            and self.received_on.date
            and self.date_from.date
            and self.date_to.date
        )
        return RequestDraft(
            number=self.number.data or "",
            requester=self.requester.organisation,
            received_on=self.received_on.date,
            route=Route(self.route.data),
            duty=self.selected_duty(),
            persons=self.persons.data or 0,
            date_from=self.date_from.date,
            date_to=self.date_to.date,
            fiscal_year=self.fiscal_year.data,
            job_type=self.job_type.data or "",
            place=self.place.data or "",
            reason=self.reason.data or "",
            conditions=self.conditions.data or "",
            lodging=self.lodging.data or "",
            note=self.note.data or "",
        )


class EditRequestForm(JapaneseForm):
    """What a request says besides its figures, which are revised instead."""

    received_on = DateField("受付日", validators=[required("受付日")])
    job_type = _text("職種", 50)
    place = _text("勤務場所", 200)
    reason = _text("理由", MAX_NOTE, multiline=True)
    conditions = _text("勤務条件", MAX_NOTE, multiline=True)
    lodging = _text("宿泊・食事", MAX_NOTE, multiline=True)
    note = _text("備考", MAX_NOTE, multiline=True)


class ReviseForm(JapaneseForm, FiguresMixin):
    persons = _persons("人数（この日から）")
    date_from = DateField("適用開始日", validators=[required("適用開始日")])
    date_to = DateField("終了日", validators=[required("終了日")])
    fiscal_year = _fiscal_year()
    note = _text("改訂の内容", MAX_NOTE, multiline=True)


class WithdrawForm(JapaneseForm):
    on = DateField("取下げ日", validators=[required("取下げ日")], description="この日から要請を数えません。")
    reason = _text("理由", 500)


class StateForm(JapaneseForm):
    state = SelectField(
        "状況",
        choices=[
            SelectChoice(s.value, STATE_LABELS[s]) for s in RequestState if s is not RequestState.WITHDRAWN
        ],
        validators=[InputRequired()],
    )


class AssignmentForm(JapaneseForm):
    sender = OrganisationField("応援団体（派遣元）", validators=[required("応援団体")])
    persons = _persons("人数（1日あたり／中長期は年度の人数）", minimum=1)
    date_from = DateField("開始日", validators=[required("開始日")])
    date_to = DateField("終了日", validators=[required("終了日")])
    decided_on = DateField("決定日", validators=[required("決定日")])
    note = _text("備考", MAX_NOTE, multiline=True)

    def validate_date_to(self, field: DateField) -> None:
        if self.date_from.date and field.date and field.date < self.date_from.date:
            raise ValidationError("終了日が開始日より前です。")


class CounterpartForm(JapaneseForm):
    supporter = OrganisationField("対口支援団体", validators=[required("対口支援団体")])
    supported = OrganisationField("被災市区町村", validators=[required("被災市区町村")])
    stage = _text("段階", 40)
    decided_on = DateField("決定日", validators=[required("決定日")])
    note = _text("備考", MAX_NOTE, multiline=True)
