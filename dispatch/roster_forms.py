"""The forms of the people and teams pages: field checks, every message in Japanese next to its field."""

from __future__ import annotations

from typing import Any

from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField

# types-WTForms 3.2 lacks SelectChoice, which WTForms 3.3 has.
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import Length, NumberRange, Optional, ValidationError

from . import lookup
from .forms import (
    DateField,
    JapaneseForm,
    OrganisationField,
    VisibleText,
    duty_choices,
    operation_choices,
    required,
)
from .models import Disaster
from .roster import PersonFields, TeamFields
from .roster_models import STAFF_KIND_LABELS, TEAM_TYPE_LABELS, Person
from .text import normalise


def _text(label: str, limit: int, *, needed: bool = False, hint: str = "") -> StringField:
    checks = [required(label)] if needed else [Optional()]
    return StringField(
        label,
        validators=[
            *checks,
            Length(max=limit, message=f"{label}は{limit}文字以内で入力してください。"),
            VisibleText(),
        ],
        filters=[lambda v: normalise(v).strip() if v else ""],
        description=hint,
    )


class PersonForm(JapaneseForm):
    name = _text("氏名", 100, needed=True)
    kana = _text("氏名カナ", 200)
    sender = OrganisationField("派遣元", validators=[required("派遣元")])
    sender_unit = _text("所属", 100, hint="例: 総務部総合防災課")
    job_type = _text("職種", 50, hint="例: 一般事務、土木、保健師")
    position = _text("職名", 50, hint="例: 防災監、主査")
    staff_kind = SelectField(
        "職員区分", choices=[SelectChoice(k.value, label) for k, label in STAFF_KIND_LABELS.items()]
    )
    staff_number = _text("職員番号", 50, hint="任意")
    contact = _text("連絡先", 200, hint="任意。電話番号など")

    def fields(self) -> PersonFields:
        assert self.sender.organisation is not None
        return PersonFields(
            name=self.name.data or "",
            kana=self.kana.data or "",
            sender=self.sender.organisation,
            sender_unit=self.sender_unit.data or "",
            job_type=self.job_type.data or "",
            position=self.position.data or "",
            staff_kind=self.staff_kind.data or "",
            staff_number=self.staff_number.data or "",
            contact=self.contact.data or "",
        )

    def fill(self, person: Person) -> None:
        for name in (
            "name",
            "kana",
            "sender_unit",
            "job_type",
            "position",
            "staff_kind",
            "staff_number",
            "contact",
        ):
            getattr(self, name).data = getattr(person, name)
        self.sender.data = person.sender.label


class TeamForm(JapaneseForm):
    number = IntegerField(
        "陣（番号）",
        validators=[required("陣"), NumberRange(min=1, max=999, message="陣は1から999までの番号です。")],
    )
    team_type = SelectField(
        "班の種類", choices=[SelectChoice(t.value, label) for t, label in TEAM_TYPE_LABELS.items()]
    )
    operation = SelectField("派遣区分", validators=[required("派遣区分")])
    sender = OrganisationField("派遣元", validators=[required("派遣元")])
    destination = OrganisationField("派遣先", validators=[required("派遣先")])
    duty = SelectField("業務", validators=[required("業務")])
    receiving_section = _text("配属先", 100, hint="例: 市災害対策本部事務局")
    start_date = DateField("開始日", validators=[required("開始日")])
    end_date = DateField("終了日", validators=[required("終了日")])
    travel_at_start = BooleanField("初日は移動日")
    travel_at_end = BooleanField("最終日は移動日")
    note = TextAreaField(
        "備考", validators=[Length(max=1000), VisibleText(multiline=True)], render_kw={"rows": 2}
    )

    def __init__(self, disaster: Disaster, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.disaster = disaster
        self.operation.choices = operation_choices(disaster)
        self.duty.choices = duty_choices()

    def validate_end_date(self, field: DateField) -> None:
        if field.date and self.start_date.date and field.date < self.start_date.date:
            raise ValidationError("終了日が開始日より前です。")

    def validate_destination(self, field: OrganisationField) -> None:
        if field.organisation is not None and field.organisation is self.sender.organisation:
            raise ValidationError("派遣元と派遣先が同じです。")

    def fields(self) -> TeamFields:
        assert self.sender.organisation and self.destination.organisation
        assert self.start_date.date and self.end_date.date
        return TeamFields(
            number=int(self.number.data or 0),
            team_type=self.team_type.data or "",
            operation=lookup.find_operation(self.disaster, self.operation.data or ""),
            sender=self.sender.organisation,
            destination=self.destination.organisation,
            duty=lookup.find_duty(self.duty.data or ""),
            start_date=self.start_date.date,
            end_date=self.end_date.date,
            receiving_section=self.receiving_section.data or "",
            travel_at_start=bool(self.travel_at_start.data),
            travel_at_end=bool(self.travel_at_end.data),
            note=(self.note.data or "").strip(),
        )


class MemberForm(JapaneseForm):
    person = IntegerField("職員（番号）", validators=[required("職員")])
    start_date = DateField("開始日", validators=[required("開始日")])
    end_date = DateField("終了日", validators=[required("終了日")])

    def validate_end_date(self, field: DateField) -> None:
        if field.date and self.start_date.date and field.date < self.start_date.date:
            raise ValidationError("終了日が開始日より前です。")
