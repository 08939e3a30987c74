"""Forms of the pages that run disasters, operations and the organisation register (団体マスタ): field checks
only, messages in Japanese next to their fields. The use cases (catalog.py, organisations.py) decide the rest.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from wtforms import HiddenField, SelectField, SelectMultipleField, StringField

# types-WTForms 3.2 lacks SelectChoice, which WTForms 3.3 has.
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import AnyOf, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from .catalog import MAX_NAME, SLUG_PATTERN
from .extensions import db
from .forms import DateField, JapaneseForm, OrganisationField, VisibleText, required
from .limits import MAX_SENDER_UNIT
from .models import Organisation, OrgKind
from .organisations import MAX_KANA
from .organisations import MAX_NAME as MAX_BODY_NAME


def _trimmed(value: str | None) -> str:
    return " ".join(value.split()) if value else ""


def _text_field(
    label: str, max_length: int = MAX_NAME, description: str = "", *, optional: bool = False
) -> StringField:
    """A line of text as the use cases take it (a name, a 配属先, a よみ): runs of spaces folded into one, at
    most ``max_length`` characters, required unless ``optional``."""
    return StringField(
        label,
        validators=[
            *([] if optional else [required(label)]),
            Length(max=max_length, message=f"{label}は{max_length}文字以内で入力してください。"),
            VisibleText(),
        ],
        filters=[_trimmed],
        description=description,
    )


def prefecture_choices() -> list[SelectChoice]:
    stmt = (
        select(Organisation.code, Organisation.name)
        .where(Organisation.kind == OrgKind.PREFECTURE.value)
        .order_by(Organisation.code)
    )
    return [SelectChoice(code, name) for code, name in db.session.execute(stmt)]


class CheckboxesField(SelectMultipleField):
    """Several choices as a list of checkboxes (the 47 prefectures)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class DisasterForm(JapaneseForm):
    name = _text_field("災害名", description="例: 令和5年7月14日からの大雨")
    start_date = DateField("発生日", validators=[required("発生日")])
    prefectures = CheckboxesField(
        "被災都道府県", validators=[Optional()], description="受け入れた側から見た報告になる都道府県"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prefectures.choices = prefecture_choices()

    def selected_prefectures(self) -> list[Organisation]:
        codes = list(self.prefectures.data or [])
        if not codes:
            return []
        return list(db.session.scalars(select(Organisation).where(Organisation.code.in_(codes))))


class NewDisasterForm(DisasterForm):
    slug = StringField(
        "識別子（URL）",
        validators=[
            required("識別子"),
            Length(max=64, message="識別子は64文字以内で入力してください。"),
        ],
        filters=[lambda v: v.strip() if v else ""],
        description="半角英小文字・数字・ハイフン。例: akita-2023-rain",
    )

    def validate_slug(self, field: StringField) -> None:
        if field.data and not SLUG_PATTERN.fullmatch(field.data):
            raise ValidationError("識別子は半角英小文字・数字・ハイフンで入力してください。")


class OperationForm(JapaneseForm):
    code = StringField(
        "コード",
        validators=[required("コード"), Length(max=40, message="コードは40文字以内で入力してください。")],
        filters=[lambda v: v.strip() if v else ""],
        description="半角英小文字・数字・ハイフン。例: mutual-aid",
    )
    name = _text_field("派遣区分名")


class RenameForm(JapaneseForm):
    name = _text_field("名称")


class MoveForm(JapaneseForm):
    steps = HiddenField(validators=[AnyOf(["-1", "1"], message="移動の向きが不正です。")])


class EndForm(JapaneseForm):
    on = DateField("終了日", validators=[required("終了日")])


class ButtonForm(JapaneseForm):
    """A button that posts nothing but the CSRF token (reopen)."""


class SectionForm(JapaneseForm):
    destination = OrganisationField("派遣先", validators=[required("派遣先")])
    name = _text_field(
        "配属先", MAX_SENDER_UNIT, "例: 町災害対策本部事務局。空にすると取り消します。", optional=True
    )


KIND_CHOICES = [SelectChoice("", "すべて"), *(SelectChoice(kind.value, kind.label) for kind in OrgKind)]


class SearchForm(JapaneseForm):
    class Meta:
        csrf = False

    q = StringField("団体コード・名称・よみ", validators=[Optional(), VisibleText()], filters=[_trimmed])
    kind = SelectField("種別", choices=KIND_CHOICES, validators=[Optional()], default="")


class BodyForm(JapaneseForm):
    name = _text_field("団体名", MAX_BODY_NAME, "例: 秋田県広域消防連合、総務省")
    kana = _text_field("よみ", MAX_KANA, "かなで。検索と入力候補に使います。", optional=True)


class NewBodyForm(BodyForm):
    prefecture = SelectField("所在の都道府県", validators=[Optional()], default="")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prefecture.choices = [SelectChoice("", "（なし）"), *prefecture_choices()]

    def selected_prefecture(self) -> Organisation | None:
        if not self.prefecture.data:
            return None
        return db.session.scalar(select(Organisation).where(Organisation.code == self.prefecture.data))
