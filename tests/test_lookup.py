"""Finding an organisation, operation or duty from what a person typed: one rule set for every caller.

Master data holds the 47 prefectures and Akita's 25 municipalities: 秋田県 050008, 秋田市 052019,
横手市 052035 (ヨコテシ), 五城目町 053619 (ゴジョウメマチ). 「秋田」 starts two names (秋田県, 秋田市);
北秋田市 has it inside, not at the start.
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from dispatch.catalog import create_operation
from dispatch.errors import ImportRefused
from dispatch.extensions import db
from dispatch.forms import EntryForm
from dispatch.importing import import_dispatches
from dispatch.lookup import (
    Duties,
    LookupRefused,
    Operations,
    Organisations,
    find_duty,
    find_operation,
    find_organisation,
)
from dispatch.models import Disaster, Entry, Operation, Organisation
from tests import factories
from tests.conftest import statements_sent
from tests.factories import AKITA_CITY, AKITA_PREF, GOJOME, YOKOTE, hq

OPERATION_NAME = "災害時の相互応援協定に基づく派遣"


@pytest.fixture
def disaster(ctx: None) -> Disaster:
    return factories.disaster()


@pytest.fixture
def operation(disaster: Disaster) -> Operation:
    create_operation(disaster, "relief-act", "災害救助法業務に係る派遣", hq())
    return create_operation(disaster, "mutual-aid", OPERATION_NAME, hq())


def code_of(text: str, role: str | None = None) -> str:
    return find_organisation(text, role=role).code


def refusal(text: str, role: str | None = None) -> LookupRefused:
    with pytest.raises(LookupRefused) as caught:
        find_organisation(text, role=role)
    return caught.value


# --- organisations, one rule at a time ----------------------------------------------------------------


def test_six_digit_code(ctx: None) -> None:
    assert code_of("052035") == YOKOTE


def test_five_digit_code_without_its_check_digit(ctx: None) -> None:
    # JIS X 0402: 05361 + check digit 9 = 053619.
    assert code_of("05361") == GOJOME


def test_code_whose_leading_zero_a_spreadsheet_dropped(ctx: None) -> None:
    assert code_of("53619") == GOJOME
    assert code_of("5361") == GOJOME  # the five-digit code, its leading zero dropped too


def test_code_with_a_wrong_check_digit_is_unknown(ctx: None) -> None:
    assert str(refusal("053618")) == "「053618」に当たる団体が見つかりません。"


def test_datalist_choice(ctx: None) -> None:
    assert code_of("052019 秋田市") == AKITA_CITY
    assert code_of("052019　 秋田市") == AKITA_CITY  # a full-width space, then another


def test_datalist_choice_whose_name_contradicts_its_code_is_unknown(ctx: None) -> None:
    assert str(refusal("052019 横手市")) == "「052019 横手市」に当たる団体が見つかりません。"


def test_exact_name(ctx: None) -> None:
    assert code_of("五城目町") == GOJOME


def test_hiragana_kana(ctx: None) -> None:
    assert code_of("ごじょうめまち") == GOJOME


def test_katakana_kana(ctx: None) -> None:
    assert code_of("ゴジョウメマチ") == GOJOME
    assert code_of("ｺﾞｼﾞｮｳﾒﾏﾁ") == GOJOME  # half-width katakana


def test_full_width_digits_and_surrounding_spaces(ctx: None) -> None:
    assert code_of("　０５２０３５ ") == YOKOTE
    assert code_of("０５３６１") == GOJOME


def test_unique_prefix_of_the_name(ctx: None) -> None:
    assert code_of("横手") == YOKOTE
    assert code_of("五城目") == GOJOME


def test_unique_prefix_of_the_kana(ctx: None) -> None:
    assert code_of("よこて") == YOKOTE
    assert code_of("ゴジョウメ") == GOJOME
    # The whole country has 五條市 (奈良県) too.
    assert refusal("ゴジョウ").candidates == ["五城目町（053619）", "五條市（292079）"]


def test_a_single_character_is_no_prefix(ctx: None) -> None:
    assert str(refusal("横")) == "「横」に当たる団体が見つかりません。"


def test_ambiguous_prefix_is_refused_naming_the_candidates(ctx: None) -> None:
    refused = refusal("秋田")

    assert str(refused) == (
        "「秋田」に当たる団体が複数あります: 秋田県（050008）、秋田市（052019）。"
        "コードか正式名で入力してください。"
    )
    assert refused.candidates == ["秋田県（050008）", "秋田市（052019）"]


def test_ambiguous_kana_prefix_is_refused_too(ctx: None) -> None:
    # 安芸高田市 (広島県) reads アキタカタシ.
    assert refusal("あきた").candidates == ["秋田県（050008）", "秋田市（052019）", "安芸高田市（342149）"]


def test_exact_name_wins_over_prefixes(ctx: None) -> None:
    # 「秋田市」 is a whole name; a body named 秋田市消防本部 starts with it but is not asked for.
    db.session.add(Organisation(code="X0001", kind="other", name="秋田市消防本部"))
    db.session.flush()

    assert code_of("秋田市") == AKITA_CITY
    assert code_of("秋田市消防") == "X0001"


def test_a_name_two_bodies_share_needs_the_code(ctx: None) -> None:
    db.session.add(Organisation(code="X0001", kind="other", name="秋田市"))
    db.session.flush()

    refused = refusal("秋田市", role="派遣元")

    assert str(refused) == (
        "派遣元「秋田市」に当たる団体が複数あります: 秋田市（052019）、秋田市（X0001）。コードで入力してください。"
    )
    assert code_of("x0001") == "X0001"
    assert code_of("052019 秋田市") == AKITA_CITY


def test_many_candidates_are_cut_short_in_the_message(ctx: None) -> None:
    db.session.add_all(
        Organisation(code=f"X{n:04d}", kind="other", name=f"広域連合{n}号") for n in range(1, 13)
    )
    db.session.flush()

    refused = refusal("広域連合")

    assert len(refused.candidates) == 12
    assert str(refused) == (
        "「広域連合」に当たる団体が複数あります: "
        + "、".join(f"広域連合{n}号（X{n:04d}）" for n in range(1, 11))
        + "、ほか2件。コードか正式名で入力してください。"
    )


def test_unknown_is_refused(ctx: None) -> None:
    refused = refusal("存在しない町")

    assert str(refused) == "「存在しない町」に当たる団体が見つかりません。"
    assert refused.candidates == []


def test_the_role_heads_the_message(ctx: None) -> None:
    assert str(refusal(" 存在しない町 ", role="派遣先")) == "派遣先「存在しない町」が見つかりません。"


def test_a_catalogue_loaded_for_many_look_ups_resolves_without_a_query(ctx: None) -> None:
    organisations = Organisations.load(many=True)
    with statements_sent() as statements:
        found = [organisations.find(text).code for text in ("横手", "53619", "あきたし", "050008")]

    assert found == [YOKOTE, GOJOME, AKITA_CITY, AKITA_PREF]
    assert statements == []


# --- operations and duties ---------------------------------------------------------------------------


def test_operation_by_code(disaster: Disaster, operation: Operation) -> None:
    assert find_operation(disaster, "mutual-aid") is operation
    assert find_operation(disaster, "MUTUAL-AID") is operation


def test_operation_by_name(disaster: Disaster, operation: Operation) -> None:
    assert find_operation(disaster, OPERATION_NAME) is operation


def test_operation_by_unique_prefix(disaster: Disaster, operation: Operation) -> None:
    assert find_operation(disaster, "災害時の") is operation
    with pytest.raises(LookupRefused) as caught:
        find_operation(disaster, "災害")
    # In the disaster's order of operations: relief-act was added first.
    assert str(caught.value) == (
        "「災害」に当たる派遣区分が複数あります: "
        f"災害救助法業務に係る派遣（relief-act）、{OPERATION_NAME}（mutual-aid）。コードか正式名で入力してください。"
    )


def test_operation_of_another_disaster_is_unknown(disaster: Disaster, operation: Operation) -> None:
    other = factories.disaster("other-quake")
    with pytest.raises(LookupRefused) as caught:
        find_operation(other, "mutual-aid", role="派遣区分")
    assert str(caught.value) == "派遣区分「mutual-aid」が見つかりません。"
    assert Operations(disaster).find("mutual-aid") is operation


def test_duty_by_code(ctx: None) -> None:
    assert find_duty("water_supply").name_ja == "給水業務"
    assert find_duty("WATER_SUPPLY").name_ja == "給水業務"


def test_duty_by_name(ctx: None) -> None:
    assert find_duty("家屋被害認定調査").code == "damage_survey"
    # NFKC makes （） plain (); the name still matches.
    assert find_duty("情報連絡員(リエゾン)").code == "liaison"


def test_duty_by_unique_prefix(ctx: None) -> None:
    duties = Duties.load()
    assert duties.find("給水").code == "water_supply"
    assert duties.find("水道").code == "water_restoration"
    with pytest.raises(LookupRefused) as caught:
        duties.find("災害")
    # In the order of the list of duties (data/duties.csv).
    assert caught.value.candidates == [
        "災害対策本部事務局支援（hq_support）",
        "災害マネジメント総括支援（mgmt_support）",
        "災害救助法関係事務（relief_act）",
        "災害廃棄物処理（debris）",
    ]


def test_unknown_duty_is_refused(ctx: None) -> None:
    with pytest.raises(LookupRefused) as caught:
        find_duty("草むしり")
    assert str(caught.value) == "「草むしり」に当たる業務が見つかりません。"


# --- the same answer through the entry form and through the importer --------------------------------

TYPED = [
    ("052035", YOKOTE),
    ("05203", YOKOTE),
    ("52035", YOKOTE),
    ("052035 横手市", YOKOTE),
    ("横手市", YOKOTE),
    ("横手", YOKOTE),
    ("よこて", YOKOTE),
    ("ヨコテシ", YOKOTE),
    ("０５２０３５", YOKOTE),
    ("53619", GOJOME),
]


def form_sender(app: Flask, disaster: Disaster, sender: str) -> tuple[str | None, list[str]]:
    data = {
        "date": "2023-07-20",
        "operation": "mutual-aid",
        "sender": sender,
        "destination": "050008",
        "duty": "water_supply",
        "headcount": "2",
    }
    with app.test_request_context(method="POST", data=data):
        form = EntryForm(disaster)
        form.validate()
        found = form.sender.organisation
        return (found.code if found else None), list(form.sender.errors)


def import_sender(disaster: Disaster, sender: str) -> tuple[str | None, list[str]]:
    data = f"日付,派遣区分,派遣元,派遣先,業務,人数\r\n2023-07-20,mutual-aid,{sender},050008,給水,2\r\n"
    try:
        result = import_dispatches(disaster, data.encode(), "x.csv", actor=hq())
    except ImportRefused as refused:
        return None, [e.message for e in refused.errors]
    [entry_id] = result.entry_ids
    code = db.session.get_one(Entry, entry_id).sender.code
    db.session.rollback()
    return code, []


@pytest.mark.parametrize(("typed", "code"), TYPED)
def test_form_and_importer_find_the_same_organisation(
    app: Flask, disaster: Disaster, operation: Operation, typed: str, code: str
) -> None:
    assert code_of(typed) == code
    assert form_sender(app, disaster, typed) == (code, [])
    assert import_sender(disaster, typed) == (code, [])


def test_form_and_importer_refuse_an_ambiguous_name_alike(
    app: Flask, disaster: Disaster, operation: Operation
) -> None:
    candidates = "秋田県（050008）、秋田市（052019）。コードか正式名で入力してください。"

    assert form_sender(app, disaster, "秋田") == (
        None,
        [f"「秋田」に当たる団体が複数あります: {candidates}"],
    )
    assert import_sender(disaster, "秋田") == (
        None,
        [f"派遣元「秋田」に当たる団体が複数あります: {candidates}"],
    )


def test_form_and_importer_refuse_an_unknown_name_in_their_own_words(
    app: Flask, disaster: Disaster, operation: Operation
) -> None:
    assert form_sender(app, disaster, "存在しない町") == (
        None,
        ["「存在しない町」に当たる団体が見つかりません。候補から選ぶか、団体コードを入力してください。"],
    )
    assert import_sender(disaster, "存在しない町") == (
        None,
        ["派遣元「存在しない町」が見つかりません（団体コードまたは名称）"],
    )


def test_the_form_draft_resolves_operation_and_duty(
    app: Flask, disaster: Disaster, operation: Operation
) -> None:
    data = {
        "date": "2023-07-20",
        "operation": "mutual-aid",
        "sender": "横手",
        "destination": "ごじょうめまち",
        "duty": "water_supply",
        "headcount": "２",
    }
    with app.test_request_context(method="POST", data=data):
        form = EntryForm(disaster)
        assert form.validate(), form.errors
        assert form.date.date is not None
        draft = form.draft(form.date.date)
    assert (draft.operation, draft.sender.code, draft.destination.code, draft.duty.code) == (
        operation,
        YOKOTE,
        GOJOME,
        "water_supply",
    )
    assert db.session.scalar(select(Organisation.name).where(Organisation.code == YOKOTE)) == "横手市"


def test_suggestions_are_what_each_rule_matches_in_catalogue_order(
    disaster: Disaster, operation: Operation
) -> None:
    organisations = Organisations.load()
    # 「秋田」 starts 秋田県 and 秋田市 (not 北秋田市); a code and kana suggest their body too.
    assert organisations.suggest("秋田", 10) == ["050008 秋田県", "052019 秋田市"]
    assert organisations.suggest("05203", 10) == ["052035 横手市"]
    assert organisations.suggest("よこて", 10) == ["052035 横手市"]
    assert organisations.suggest("秋田", 1) == ["050008 秋田県"]
    assert organisations.suggest("存在しない", 10) == []
    assert Duties.load().suggest("家屋", 10) == ["家屋被害認定調査"]
    assert Operations(disaster).suggest("災害時", 10) == [OPERATION_NAME]
