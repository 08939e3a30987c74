"""Every local government of Japan (masterdata.py) and the organisation register, 団体マスタ (organisations.py,
pages/organisations.py, `flask organisations`): the 1,788 bodies loaded and kept by `init-db`, other bodies
added under X codes, renamed and deactivated, every change audited; bodies outside Akita as senders,
destinations and a municipality user's organisation."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import event, func, insert, select

from dispatch import forms
from dispatch.catalog import create_disaster, create_operation
from dispatch.entries import update_entry
from dispatch.errors import Refusal
from dispatch.extensions import db
from dispatch.forms import organisation_datalist
from dispatch.lookup import find_organisation
from dispatch.masterdata import load_master_data
from dispatch.models import LOCAL_GOVERNMENT_KINDS, AuditRecord, Entry, Organisation, OrgKind, Role, User
from dispatch.organisations import add_body, rename_body, search, set_active
from tests import factories
from tests.factories import import_form, logged_in, make_user
from tests.reading import assert_ok, flashes, plain

WAJIMA = "172049"
SUZU = "172057"
ISHIKAWA = "170003"
MIE = "240001"
TSU = "242012"
BODY = "奥能登広域圏事務組合"


def _org(code: str) -> Organisation:
    return factories.org(code)


# --- the whole country ----------------------------------------------------------------------------------


def test_the_active_local_governments_are_the_1788(ctx: None) -> None:
    kinds = dict(
        db.session.execute(
            select(Organisation.kind, func.count())
            .where(Organisation.active.is_(True))
            .group_by(Organisation.kind)
        ).all()
    )
    assert kinds == {
        "prefecture": 47,
        "city": 792,
        "town": 743,
        "village": 183,
        "special_ward": 23,
        "ward": 171,
    }
    local_governments = db.session.scalar(
        select(func.count()).where(
            Organisation.active.is_(True), Organisation.kind.in_([k.value for k in LOCAL_GOVERNMENT_KINDS])
        )
    )
    assert local_governments == 1_788


def test_bodies_outside_akita(ctx: None) -> None:
    wajima, suzu = _org(WAJIMA), _org(SUZU)
    assert (wajima.name, wajima.kind, wajima.prefecture and wajima.prefecture.code) == (
        "輪島市",
        "city",
        ISHIKAWA,
    )
    assert (suzu.name, suzu.kana) == ("珠洲市", "スズシ")
    chiyoda = _org("131016")
    assert (chiyoda.name, chiyoda.org_kind, chiyoda.org_kind.label) == (
        "千代田区",
        OrgKind.SPECIAL_WARD,
        "特別区",
    )
    aoba = _org("041017")
    assert (aoba.name, aoba.kind, aoba.parent and aoba.parent.name) == ("仙台市青葉区", "ward", "仙台市")
    # 東京都's municipalities are written 区市町村; Akita's district and area are kept from its own list.
    assert (_org("053619").district, _org("053619").area) == ("南秋田郡", "秋田")


def test_init_db_again_keeps_ids_and_entries_adds_the_missing_and_deactivates_the_unlisted(ctx: None) -> None:
    entry = factories.entry(date(2023, 8, 1), 2, sender="052019", destination="053619")
    akita_id = _org("052019").id
    # An older database: without 石川県's towns and 浜松市's new wards, and with a body the list no longer has.
    gone = ["173240", "173614", "221384", "221392", "221406"]
    db.session.execute(Organisation.__table__.delete().where(Organisation.code.in_(gone)))
    merged = Organisation(code="059994", kind="town", name="合併前町", prefecture=_org("050008"))
    db.session.add(merged)
    db.session.flush()

    counts = load_master_data()

    assert (counts.organisations, counts.wards, counts.added, counts.deactivated) == (1_788, 171, 5, 1)
    assert _org("052019").id == akita_id
    assert db.session.get(Entry, entry.id) is not None
    assert {
        o.code for o in db.session.scalars(select(Organisation).where(Organisation.code.in_(gone)))
    } == set(gone)
    assert _org("221392").parent == _org("221309")
    assert merged.active is False
    again = load_master_data()
    assert (again.added, again.deactivated) == (0, 0)


def test_a_designated_citys_ward_is_a_sender_unit_not_a_sender(ctx: None) -> None:
    for typed in ("仙台市青葉区", "041017"):
        with pytest.raises(Refusal) as refused:
            find_organisation(typed, role="派遣元")
        assert str(refused.value) == (
            f"派遣元「{typed}」は仙台市の区です。団体には仙台市を、所属に青葉区を入力してください。"
        )
    # Without the wards in the catalogue, a prefix of the city names the city alone.
    assert find_organisation("仙台").code == "041009"
    assert find_organisation("さっぽろ").code == "011002"
    html = str(organisation_datalist())
    assert '<option value="172049 輪島市">ワジマシ</option>' in html
    assert "041017" not in html


def test_rows_from_mie_to_ishikawa_import(app: Flask, client_as: Callable[..., FlaskClient]) -> None:
    """The issue's check: 三重県→輪島市 and 津市→石川県, by name and by code."""
    with app.app_context():
        disaster = create_disaster("noto-quake", "令和6年能登半島地震", date(2024, 1, 1), factories.admin())
        create_operation(disaster, "counterpart", "対口支援", factories.admin())
        db.session.commit()
    hq = client_as(Role.HQ)
    response = hq.post(
        "/disasters/noto-quake/import",
        data=import_form(
            [
                "2024-01-10,counterpart,三重県,防災対策部,輪島市,shelter,4,",
                f"2024-01-10,counterpart,{TSU},,{ISHIKAWA},liaison,1,",
            ]
        ),
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, plain(response.text)
    with app.app_context():
        rows = db.session.execute(
            select(Entry.headcount, Entry.sender_unit)
            .join(Organisation, Entry.sender_id == Organisation.id)
            .order_by(Organisation.code)
            .add_columns(Organisation.code)
        ).all()
    assert [(code, unit, headcount) for headcount, unit, code in rows] == [
        (MIE, "防災対策部", 4),
        (TSU, "", 1),
    ]


def test_a_municipality_user_outside_akita(app: Flask, runner: FlaskCliRunner, sending_demo: None) -> None:
    result = runner.invoke(args=["create-user", "wajima", "--role", "municipality", "--org", WAJIMA])
    assert_ok(result)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "wajima"))
        assert user is not None and user.organisation is not None
        assert user.organisation.code == WAJIMA
        db.session.expunge(user)
    wajima = logged_in(app, user)
    body = wajima.get("/disasters/noto-2024-drill/totals.json?as_of=2024-04-30&by=destination").get_json()
    # Only what reached 輪島市: item (1), 延べ347人 (demo_sending.py).
    assert [(r["key"], r["person_days"]) for r in body["rows"]] == [(WAJIMA, 347)]


# --- other bodies ----------------------------------------------------------------------------------------


def test_other_bodies_get_x_codes_and_every_change_is_audited(ctx: None) -> None:
    body = add_body(
        BODY, factories.admin(), kana="おくのとこういきけんじむくみあい", prefecture=_org(ISHIKAWA)
    )
    second = add_body("総務省", factories.admin())
    assert (body.code, body.kind, body.kana, second.code) == (
        "X0001",
        "other",
        "オクノトコウイキケンジムクミアイ",
        "X0002",
    )
    with pytest.raises(Refusal, match="「総務省」は登録済みです（X0002）"):
        add_body("総務省", factories.admin())
    with pytest.raises(Refusal, match="「輪島市」は登録済みです（172049）"):
        rename_body(second, "輪島市", factories.admin())
    rename_body(second, "総務省自治行政局", factories.admin(), kana="そうむしょう")
    set_active(second, False, factories.admin())
    records = db.session.scalars(
        select(AuditRecord).where(AuditRecord.object_type == "organisation").order_by(AuditRecord.id)
    ).all()
    assert [(r.action, r.object_id) for r in records] == [
        ("create", body.id),
        ("create", second.id),
        ("update", second.id),
        ("deactivate", second.id),
    ]
    assert (records[2].before or {})["name"] == "総務省"
    assert (records[2].after or {})["name"] == "総務省自治行政局"
    assert (records[3].after or {})["active"] is False


def test_a_local_government_is_not_edited_here(ctx: None) -> None:
    with pytest.raises(Refusal, match="輪島市（172049）は全国地方公共団体コードの団体です"):
        rename_body(_org(WAJIMA), "わじま市", factories.admin())
    with pytest.raises(Refusal, match="全国地方公共団体コードの団体です"):
        set_active(_org(WAJIMA), False, factories.admin())


def test_a_deactivated_body_keeps_its_entries_and_takes_no_new_one(ctx: None) -> None:
    body = add_body(BODY, factories.admin())
    assert body.code in str(organisation_datalist())
    entry = factories.entry(date(2023, 8, 1), 2, sender=body.code)
    set_active(body, False, factories.admin())
    with pytest.raises(Refusal, match=f"{BODY}は無効になった団体です。新しい派遣には使えません。"):
        factories.entry(date(2023, 8, 2), 1, sender=body.code)
    # Its own entries stay, and may still be corrected.
    update_entry(entry, factories.draft(date(2023, 8, 1), 3, sender=body.code), factories.hq())
    assert entry.headcount == 3
    assert find_organisation(BODY).code == body.code  # lists and filters still reach it
    assert body.code not in str(organisation_datalist())  # changed in this process: seen at once


def test_the_datalist_sees_another_processs_new_body_within_its_recheck(
    ctx: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    first = str(organisation_datalist())
    statements.clear()
    assert str(organisation_datalist()) == first
    assert statements == []  # within the recheck the list costs no statement
    # Another process (a worker, the CLI) adds a body: no mapper event here tells this one.
    db.session.execute(
        insert(Organisation).values(code="X9001", kind=OrgKind.OTHER.value, name=BODY, kana="", active=True)
    )
    assert "X9001" not in str(organisation_datalist())
    monkeypatch.setattr(forms, "_DATALIST_RECHECK_S", 0.0)
    assert '<option value="X9001 奥能登広域圏事務組合">' in str(organisation_datalist())


def test_search_by_code_name_and_kana(ctx: None) -> None:
    assert [o.code for o in search("17204").organisations] == [WAJIMA]
    # Kana, typed in hiragana, anywhere in the reading: カワジマチョウ, ワジマシ, ウワジマシ (code order).
    assert [o.name for o in search("わじま").organisations] == ["川島町", "輪島市", "宇和島市"]
    assert [o.name for o in search("珠洲").organisations] == ["珠洲市"]
    found = search("", kind="special_ward")
    assert found.total == 23
    assert {o.name for o in search("青葉区").organisations} == {"仙台市青葉区", "横浜市青葉区"}
    assert [o.name for o in search("青葉区", kind="city").organisations] == []


# --- the page and the command -----------------------------------------------------------------------------


@pytest.fixture
def admin_client(app: Flask) -> FlaskClient:
    return logged_in(app, make_user(app, Role.ADMIN, "sato"))


def test_the_register_page(app: Flask, admin_client: FlaskClient) -> None:
    page = admin_client.get("/admin/organisations?q=輪島")
    assert page.status_code == 200
    assert "1件" in plain(page.text)
    assert 'href="/admin/organisations/172049"' in page.text
    added = admin_client.post(
        "/admin/organisations", data={"name": BODY, "kana": "おくのと", "prefecture": ISHIKAWA}
    )
    assert added.status_code == 302
    assert added.headers["Location"] == "/admin/organisations/X0001"
    shown = admin_client.get("/admin/organisations/X0001")
    assert flashes(shown.text, "success") == [f"{BODY}を団体コード X0001 で登録しました。"]
    renamed = admin_client.post(
        "/admin/organisations/X0001", data={"name": "奥能登広域圏", "kana": "おくのと"}
    )
    assert renamed.status_code == 302
    toggled = admin_client.post("/admin/organisations/X0001/active", data={})
    assert toggled.status_code == 302
    assert "無効（新しい派遣には使えません）" in admin_client.get("/admin/organisations/X0001").text
    refused = admin_client.post("/admin/organisations/172049", data={"name": "わじま", "kana": ""})
    assert refused.status_code == 422
    assert "全国地方公共団体コードの団体です" in plain(refused.text)
    assert admin_client.get("/admin/organisations/X9999").status_code == 404
    with app.app_context():
        assert [
            r.action
            for r in db.session.scalars(select(AuditRecord).where(AuditRecord.object_type == "organisation"))
        ] == [
            "create",
            "update",
            "deactivate",
        ]


@pytest.mark.parametrize("role", [Role.HQ, Role.REVIEWER, Role.MUNICIPALITY])
def test_the_register_is_the_administrators(
    app: Flask, client_as: Callable[..., FlaskClient], role: Role
) -> None:
    user = client_as(role, None, "053619" if role is Role.MUNICIPALITY else None)
    assert user.get("/admin/organisations").status_code == 403
    assert user.get("/admin/organisations/172049").status_code == 403
    assert user.post("/admin/organisations", data={"name": BODY}).status_code == 403
    assert user.post("/admin/organisations/172049/active", data={}).status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Organisation.kind == "other")) == 0


def test_organisations_command(runner: FlaskCliRunner, app: Flask) -> None:
    with app.app_context():
        add_body(BODY, factories.admin(), kana="おくのと", prefecture=_org(ISHIKAWA))
        db.session.commit()
    result = runner.invoke(args=["organisations", "--format", "csv"])
    assert_ok(result)
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["code", "kind", "name", "kana", "prefecture", "active"]
    assert len(rows) == 1 + 1_959 + 1
    assert ["172049", "city", "輪島市", "ワジマシ", ISHIKAWA, "true"] in rows
    assert ["131016", "special_ward", "千代田区", "チヨダク", "130001", "true"] in rows
    assert ["041017", "ward", "仙台市青葉区", "センダイシアオバク", "040002", "true"] in rows
    assert rows[-1] == ["X0001", "other", BODY, "オクノト", ISHIKAWA, "true"]
    as_json = json.loads(runner.invoke(args=["organisations", "--format", "json"]).stdout)
    assert as_json[0] == {
        "code": "010006",
        "kind": "prefecture",
        "name": "北海道",
        "kana": "ホッカイドウ",
        "prefecture": "",
        "active": True,
    }
    table = runner.invoke(args=["organisations"]).stdout
    assert table.splitlines()[-1] == "1,960 organisations, 1,960 active"
