"""Digest recipients: the service (add, change, deactivate, delete, each audited) and `flask add-recipient`."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from dispatch.errors import Refusal
from dispatch.extensions import db
from dispatch.models import AuditRecord, Delivery, DeliveryStatus, Recipient, RecipientKind
from dispatch.recipients import (
    DIVISION_LABEL,
    add_recipient,
    delete_recipient,
    list_recipients,
    normalise_email,
    set_active,
    update_recipient,
)
from tests import factories
from tests.factories import AKITA_CITY, GOJOME
from tests.reading import assert_ok


def audit_rows(recipient_id: int) -> list[AuditRecord]:
    return list(
        db.session.scalars(
            select(AuditRecord)
            .where(AuditRecord.object_type == "recipient", AuditRecord.object_id == recipient_id)
            .order_by(AuditRecord.id)
        )
    )


# --- addresses ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("bousai@town.gojome.lg.jp", "bousai@town.gojome.lg.jp"),
        ("  Bousai.Kakari@Town.GOJOME.lg.jp ", "Bousai.Kakari@town.gojome.lg.jp"),
        # Typed with a Japanese input method: full-width letters and at-mark.
        ("ｂｏｕｓａｉ＠ｔｏｗｎ．ｇｏｊｏｍｅ．ｌｇ．ｊｐ", "bousai@town.gojome.lg.jp"),
        ("first+digest@example.jp", "first+digest@example.jp"),
    ],
)
def test_an_address_is_stored_with_its_domain_in_lower_case(typed: str, stored: str) -> None:
    assert normalise_email(typed) == stored


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "bousai",
        "bousai@",
        "@town.gojome.lg.jp",
        "bousai@localhost",
        "bou sai@town.gojome.lg.jp",
        "bousai@@town.gojome.lg.jp",
        ".bousai@town.gojome.lg.jp",
        "bou..sai@town.gojome.lg.jp",
        "bousai@-town.lg.jp",
        "bousai@town..lg.jp",
        "防災@town.gojome.lg.jp",
        "a@b.jp, c@d.jp",
        "bousai@town.gojome.lg.jp\nBcc: x@example.jp",
        "x" * 250 + "@a.jp",
    ],
)
def test_what_is_not_an_address_is_refused_in_japanese(bad: str) -> None:
    with pytest.raises(Refusal, match="メールアドレス"):
        normalise_email(bad)


# --- the service ----------------------------------------------------------------------------------------


def test_adding_an_organisation_address_is_audited(ctx: None) -> None:
    recipient = add_recipient(
        factories.org(GOJOME),
        "Bousai@Town.Gojome.LG.JP",
        actor=factories.admin("kato"),
        note=" 総務課 ",
        send_empty=True,
    )
    db.session.commit()
    assert (recipient.kind, recipient.email, recipient.note) == (
        RecipientKind.ORGANISATION,
        "Bousai@town.gojome.lg.jp",
        "総務課",
    )
    assert recipient.active and recipient.send_empty
    [record] = audit_rows(recipient.id)
    assert (record.action, record.actor, record.summary) == (
        "create",
        "kato",
        "053619 五城目町 Bousai@town.gojome.lg.jp",
    )
    assert record.before is None
    assert record.after == {
        "kind": "organisation",
        "organisation": GOJOME,
        "organisation_name": "五城目町",
        "email": "Bousai@town.gojome.lg.jp",
        "active": True,
        "note": "総務課",
        "send_empty": True,
    }


def test_the_same_address_twice_on_one_list_is_refused(ctx: None) -> None:
    add_recipient(factories.org(GOJOME), "bousai@town.gojome.lg.jp", actor=factories.admin("kato"))
    with pytest.raises(Refusal, match="「BOUSAI@town.gojome.lg.jp」は五城目町の配信先に登録済みです。"):
        add_recipient(factories.org(GOJOME), "BOUSAI@TOWN.GOJOME.LG.JP", actor=factories.admin("kato"))
    # On another organisation's list, or the division's, the same address is a different subscription.
    add_recipient(factories.org(AKITA_CITY), "bousai@town.gojome.lg.jp", actor=factories.admin("kato"))
    add_recipient(None, "bousai@town.gojome.lg.jp", actor=factories.admin("kato"))
    with pytest.raises(Refusal, match=f"{DIVISION_LABEL}の配信先に登録済みです"):
        add_recipient(None, "Bousai@town.gojome.lg.jp", actor=factories.admin("kato"))
    db.session.commit()
    assert db.session.scalar(select(func.count(Recipient.id))) == 3


def test_a_division_address_has_no_organisation(ctx: None) -> None:
    recipient = add_recipient(
        None, "sogo-bousai@pref.akita.lg.jp", actor=factories.admin("kato"), note="総合防災課"
    )
    db.session.commit()
    assert (recipient.kind, recipient.organisation_id) == (RecipientKind.DIVISION, None)
    [record] = audit_rows(recipient.id)
    assert record.after is not None
    assert (record.after["organisation"], record.after["organisation_name"]) == (None, DIVISION_LABEL)
    assert record.summary == f"{DIVISION_LABEL} sogo-bousai@pref.akita.lg.jp"


def test_a_note_longer_than_200_characters_is_refused(ctx: None) -> None:
    with pytest.raises(Refusal, match="備考は200文字以内"):
        add_recipient(
            factories.org(GOJOME), "bousai@town.gojome.lg.jp", actor=factories.admin("kato"), note="あ" * 201
        )


def test_deactivating_and_changing_are_audited_with_before_and_after(ctx: None) -> None:
    recipient = add_recipient(
        factories.org(GOJOME), "bousai@town.gojome.lg.jp", actor=factories.admin("kato")
    )
    assert set_active(recipient, False, actor=factories.admin("sato")) is True
    assert update_recipient(recipient, actor=factories.admin("sato"), note="課長", send_empty=True) is True
    # Nothing changed: nothing recorded.
    assert (
        update_recipient(recipient, actor=factories.admin("sato"), note="課長", send_empty=True, active=False)
        is False
    )
    db.session.commit()
    created, deactivated, changed = audit_rows(recipient.id)
    assert created.action == "create"
    assert deactivated.action == changed.action == "update"
    assert deactivated.before is not None and deactivated.after is not None
    assert (deactivated.before["active"], deactivated.after["active"]) == (True, False)
    assert changed.before is not None and changed.after is not None
    assert (changed.before["note"], changed.after["note"]) == ("", "課長")
    assert (changed.before["send_empty"], changed.after["send_empty"]) == (False, True)
    assert not recipient.active


def test_deleting_removes_the_address_and_its_deliveries_and_keeps_the_audit(ctx: None) -> None:
    recipient = add_recipient(
        factories.org(GOJOME), "bousai@town.gojome.lg.jp", actor=factories.admin("kato")
    )
    db.session.add(
        Delivery(digest_date=date(2023, 8, 1), recipient_id=recipient.id, status=DeliveryStatus.SENT.value)
    )
    db.session.commit()
    recipient_id = recipient.id
    delete_recipient(recipient, actor=factories.admin("sato"))
    db.session.commit()
    assert db.session.get(Recipient, recipient_id) is None
    assert db.session.scalar(select(func.count(Delivery.id))) == 0
    created, deleted = audit_rows(recipient_id)
    assert (created.action, deleted.action, deleted.actor) == ("create", "delete", "sato")
    assert deleted.before is not None and deleted.before["email"] == "bousai@town.gojome.lg.jp"
    assert deleted.after is None


def test_the_list_shows_the_division_first_then_organisations_by_code(ctx: None) -> None:
    add_recipient(factories.org(GOJOME), "b@town.gojome.lg.jp", actor=factories.admin("kato"))
    add_recipient(factories.org(AKITA_CITY), "z@city.akita.lg.jp", actor=factories.admin("kato"))
    add_recipient(factories.org(GOJOME), "a@town.gojome.lg.jp", actor=factories.admin("kato"))
    add_recipient(None, "sogo@pref.akita.lg.jp", actor=factories.admin("kato"))
    db.session.commit()
    assert [r.email for r in list_recipients()] == [
        "sogo@pref.akita.lg.jp",
        "z@city.akita.lg.jp",  # 052019
        "a@town.gojome.lg.jp",  # 053619
        "b@town.gojome.lg.jp",
    ]
    gojome = factories.org(GOJOME).id
    assert [r.email for r in list_recipients(gojome)] == ["a@town.gojome.lg.jp", "b@town.gojome.lg.jp"]


# --- flask add-recipient --------------------------------------------------------------------------------


def _recipients(app: Flask) -> list[tuple[str, str | None, str, str, bool]]:
    with app.app_context():
        return [
            (r.kind, r.organisation.code if r.organisation else None, r.email, r.note, r.send_empty)
            for r in list_recipients()
        ]


def test_add_recipient_for_an_organisation(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["add-recipient", GOJOME, "Bousai@Town.Gojome.lg.jp", "--note", "総務課防災係", "--send-empty"]
    )
    assert_ok(result)
    assert (
        result.output == "added recipient Bousai@town.gojome.lg.jp for 053619 五城目町 (also on empty days)\n"
    )
    assert _recipients(app) == [("organisation", GOJOME, "Bousai@town.gojome.lg.jp", "総務課防災係", True)]
    with app.app_context():
        [record] = db.session.scalars(select(AuditRecord).where(AuditRecord.object_type == "recipient"))
        assert (record.action, record.actor) == ("create", "cli")


def test_add_recipient_for_the_division(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["add-recipient", "--division", "sogo@pref.akita.lg.jp"])
    assert_ok(result)
    assert result.output == f"added recipient sogo@pref.akita.lg.jp for {DIVISION_LABEL}\n"
    assert _recipients(app) == [("division", None, "sogo@pref.akita.lg.jp", "", False)]


def test_add_recipient_refuses_a_duplicate(app: Flask, runner: FlaskCliRunner) -> None:
    assert_ok(runner.invoke(args=["add-recipient", GOJOME, "bousai@town.gojome.lg.jp"]))
    result = runner.invoke(args=["add-recipient", GOJOME, "BOUSAI@town.gojome.lg.jp"])
    assert result.exit_code == 1
    assert "「BOUSAI@town.gojome.lg.jp」は五城目町の配信先に登録済みです。" in result.output
    assert len(_recipients(app)) == 1


def test_add_recipient_refuses_a_bad_address(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["add-recipient", GOJOME, "bousai@localhost"])
    assert result.exit_code == 1
    assert "「bousai@localhost」はメールアドレスの形式ではありません" in result.output
    assert _recipients(app) == []


def test_add_recipient_refuses_an_unknown_organisation(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["add-recipient", "999999", "bousai@town.gojome.lg.jp"])
    assert result.exit_code == 1
    assert "団体コード「999999」は登録されていません。" in result.output
    assert _recipients(app) == []


@pytest.mark.parametrize(
    "args",
    [
        ["add-recipient", "bousai@town.gojome.lg.jp"],  # no organisation, no --division
        ["add-recipient", "--division", GOJOME, "bousai@town.gojome.lg.jp"],  # both
        ["add-recipient", GOJOME, "a@town.gojome.lg.jp", "b@town.gojome.lg.jp"],
    ],
)
def test_add_recipient_wants_org_code_and_email_or_division_and_email(
    app: Flask, runner: FlaskCliRunner, args: list[str]
) -> None:
    result = runner.invoke(args=args)
    assert result.exit_code == 2
    assert "give ORG_CODE EMAIL, or --division EMAIL" in result.output
    assert _recipients(app) == []
