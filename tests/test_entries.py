"""Write use cases: every batch is written whole or not at all, and a fact is never entered twice."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from wtforms import Form as BaseForm
from wtforms import SelectField

from dispatch import entries
from dispatch.catalog import create_disaster, create_operation
from dispatch.entries import (
    copy_day,
    delete_entry,
    entry_ids,
    log_entries,
    log_period,
    update_entry,
    write_entries,
)
from dispatch.errors import DuplicateEntry, Refusal
from dispatch.extensions import db
from dispatch.forms import QuickSelect
from dispatch.models import Disaster, Entry, Operation
from dispatch.query import EntryFilter
from dispatch.seeding import seed_founding_case
from tests.factories import (
    AKITA_CITY,
    AKITA_PREF,
    GOJOME,
    NOSHIRO,
    YOKOTE,
    disaster,
    draft,
    duty,
    entry,
    hq,
    operation,
    org,
)


def _count(day: date | None = None) -> int:
    stmt = select(func.count()).select_from(Entry)
    if day is not None:
        stmt = stmt.where(Entry.date == day)
    return db.session.scalar(stmt)


def _person_days(day: date | None = None) -> int:
    stmt = select(func.coalesce(func.sum(Entry.headcount), 0))
    if day is not None:
        stmt = stmt.where(Entry.date == day)
    return db.session.scalar(stmt)


def _key(day: date, *, sender: str = AKITA_PREF, unit: str = "", destination: str = GOJOME):
    return (operation().id, day, org(sender).id, unit, org(destination).id, duty("water_supply").id)


# --- log_entries -------------------------------------------------------------------------------


def test_log_entries_writes_a_batch(ctx: None) -> None:
    written = log_entries(
        [
            draft(date(2023, 8, 1), 3),
            draft(date(2023, 8, 1), 2, sender=NOSHIRO),
            draft(date(2023, 8, 1), 4, sender=YOKOTE, destination=AKITA_CITY),
        ],
        actor=hq("hq-night"),
    )
    assert len(written) == 3
    assert _count() == 3
    assert _person_days() == 9
    assert {e.created_by for e in written} == {"hq-night"}
    assert {e.updated_by for e in written} == {"hq-night"}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"headcount": 0}, "人数は1以上で入力してください。"),
        ({"destination": AKITA_PREF}, "派遣元と派遣先が同じです。"),
        ({"day": date(2023, 7, 13)}, "災害の発生日（令和5年7月14日）より前の日付です。"),
        ({"sender_unit": "部" * 101}, "所属は100文字以内で入力してください。"),
    ],
)
def test_one_bad_draft_refuses_the_whole_batch(ctx: None, bad: dict, message: str) -> None:
    changes = dict(bad)
    bad_draft = draft(changes.pop("day", date(2023, 8, 2)), **{"headcount": 1, **changes})
    with pytest.raises(Refusal, match=message):
        log_entries([draft(date(2023, 8, 1), 3), bad_draft, draft(date(2023, 8, 3), 2)], actor=hq("test"))
    assert _count() == 0


def test_the_disaster_start_date_itself_is_accepted(ctx: None) -> None:
    entry(date(2023, 7, 14), 2)
    assert _count(date(2023, 7, 14)) == 1


def test_a_duplicate_is_refused_and_the_original_kept(ctx: None) -> None:
    original = entry(date(2023, 8, 1), 3)
    with pytest.raises(DuplicateEntry, match="登録済みの派遣と重複します（1件）。") as refused:
        log_entries([draft(date(2023, 8, 1), 5)], actor=hq("second"))
    assert refused.value.keys == [_key(date(2023, 8, 1))]
    db.session.expire_all()
    assert _count() == 1
    assert _person_days() == 3
    assert db.session.get(Entry, original.id).headcount == 3
    assert db.session.get(Entry, original.id).created_by == "test"


def test_a_duplicate_inside_a_batch_refuses_the_batch(ctx: None) -> None:
    entry(date(2023, 8, 1), 3)
    with pytest.raises(DuplicateEntry) as refused:
        log_entries(
            [draft(date(2023, 8, 2), 4), draft(date(2023, 8, 1), 3), draft(date(2023, 8, 3), 4)],
            actor=hq("test"),
        )
    assert refused.value.keys == [_key(date(2023, 8, 1))]
    assert _count() == 1
    assert _person_days() == 3


def test_a_draft_repeated_within_the_batch_is_refused(ctx: None) -> None:
    with pytest.raises(DuplicateEntry, match="同じ内容の行が重複しています") as refused:
        log_entries(
            [draft(date(2023, 8, 1), 2), draft(date(2023, 8, 2), 2), draft(date(2023, 8, 1), 3)],
            actor=hq("test"),
        )
    assert refused.value.keys == [_key(date(2023, 8, 1))]
    assert _count() == 0


def test_entries_differing_only_by_sender_unit_are_distinct(ctx: None) -> None:
    log_entries(
        [
            draft(date(2023, 8, 1), 2, sender_unit="総務部"),
            draft(date(2023, 8, 1), 3, sender_unit="建設部"),
            draft(date(2023, 8, 1), 1),
        ],
        actor=hq("test"),
    )
    assert _count() == 3
    assert _person_days() == 6


@pytest.mark.parametrize("few_senders", [100, 1])
def test_entry_ids_finds_exactly_the_keys_that_exist(
    ctx: None, monkeypatch: pytest.MonkeyPatch, few_senders: int
) -> None:
    # Two dates a statement, so that one look-up takes several; and with few_senders=1, the two senders
    # are many enough for the look-up to read whole days.
    monkeypatch.setattr(entries, "LOOKUP_BATCH", 2)
    monkeypatch.setattr(entries, "FEW_SENDERS", few_senders)
    day = date(2023, 8, 1)
    drafts = [
        draft(day, 1),
        draft(day + timedelta(days=1), 1),
        draft(day + timedelta(days=2), 1, sender_unit="総務部"),
        draft(day, 1, sender=NOSHIRO, destination=AKITA_CITY),
    ]
    written = log_entries(drafts, actor=hq())
    near_misses = [
        _key(day, unit="建設部"),
        _key(day, destination=AKITA_CITY),
        _key(day + timedelta(days=2)),
        _key(day + timedelta(days=3)),
        (
            operation(code="relief-act").id,
            day,
            org(AKITA_PREF).id,
            "",
            org(GOJOME).id,
            duty("water_supply").id,
        ),
    ]

    found = entry_ids([*(d.key for d in drafts), *near_misses])

    assert found == {d.key: e.id for d, e in zip(drafts, written, strict=True)}


def test_a_key_another_writer_inserted_since_the_check_refuses_the_batch(ctx: None) -> None:
    entry(date(2023, 8, 1), 3)
    db.session.commit()
    keys = [_key(date(2023, 8, 2)), _key(date(2023, 8, 1))]

    # write_entries trusts its caller's check, as it must when another writer commits in between.
    with pytest.raises(DuplicateEntry, match="同時に登録されました") as refused:
        write_entries([draft(date(2023, 8, 2), 1), draft(date(2023, 8, 1), 5)], hq())

    assert refused.value.keys == keys
    db.session.rollback()
    assert (_count(), _person_days()) == (1, 3)


# --- log_period --------------------------------------------------------------------------------


def test_period_is_inclusive_five_a_day_for_thirteen_days(ctx: None) -> None:
    # DOMAIN.md: 5 persons a day from 8/19 to 8/31 is 13 days, 延べ65人.
    written = log_period(draft(date(2023, 8, 19), 5), date(2023, 8, 31), actor=hq("test"))
    assert len(written) == 13
    assert _count() == 13
    assert _person_days() == 65
    dates = sorted(e.date for e in written)
    assert dates[0] == date(2023, 8, 19)
    assert dates[-1] == date(2023, 8, 31)


def test_period_of_one_day(ctx: None) -> None:
    log_period(draft(date(2023, 8, 19), 5), date(2023, 8, 19), actor=hq("test"))
    assert _count() == 1
    assert _person_days() == 5


def test_period_colliding_on_one_day_writes_nothing(ctx: None) -> None:
    entry(date(2023, 8, 25), 2)
    with pytest.raises(DuplicateEntry) as refused:
        log_period(draft(date(2023, 8, 19), 5), date(2023, 8, 31), actor=hq("test"))
    assert refused.value.keys == [_key(date(2023, 8, 25))]
    assert _count() == 1
    assert _person_days() == 2


def test_period_ending_before_it_starts_is_refused(ctx: None) -> None:
    with pytest.raises(Refusal, match="終了日が開始日より前です。"):
        log_period(draft(date(2023, 8, 31), 5), date(2023, 8, 19), actor=hq("test"))
    assert _count() == 0


def test_period_longer_than_a_year_is_refused(ctx: None) -> None:
    with pytest.raises(Refusal, match="期間は366日以内にしてください。"):
        log_period(draft(date(2023, 8, 1), 1), date(2024, 8, 1), actor=hq("test"))
    assert _count() == 0


def test_period_of_exactly_366_days_is_accepted(ctx: None) -> None:
    log_period(draft(date(2023, 8, 1), 1), date(2024, 7, 31), actor=hq("test"))
    assert _count() == 366


# --- copy_day ----------------------------------------------------------------------------------

SOURCE = date(2023, 8, 1)
TARGETS = [date(2023, 8, 2), date(2023, 8, 3), date(2023, 8, 4)]


@pytest.fixture
def rota(ctx: None) -> Disaster:
    """Three entries on 8/1, 11 persons: 5 and 2 to 五城目町, 4 to 秋田市."""
    log_entries(
        [
            draft(SOURCE, 5),
            draft(SOURCE, 2, sender=NOSHIRO),
            draft(SOURCE, 4, sender=YOKOTE, destination=AKITA_CITY, duty_code="damage_survey"),
        ],
        actor=hq("test"),
    )
    return disaster()


def test_copy_day_repeats_every_entry_on_each_target(rota: Disaster) -> None:
    written = copy_day(rota, SOURCE, TARGETS, EntryFilter(), actor=hq("copier"))
    assert len(written) == 9
    assert _count() == 12
    assert _person_days() == 44
    for day in TARGETS:
        assert _count(day) == 3
        assert _person_days(day) == 11
    assert {e.created_by for e in written} == {"copier"}


def test_copy_day_keeps_only_what_the_filter_keeps(rota: Disaster) -> None:
    written = copy_day(rota, SOURCE, TARGETS, EntryFilter(destination=GOJOME), actor=hq("copier"))
    assert len(written) == 6
    for day in TARGETS:
        assert _count(day) == 2
        assert _person_days(day) == 7
    assert {e.destination.code for e in written} == {GOJOME}


def test_copy_day_by_sender(rota: Disaster) -> None:
    copy_day(rota, SOURCE, TARGETS[:1], EntryFilter(sender=YOKOTE), actor=hq("copier"))
    assert _count(TARGETS[0]) == 1
    assert _person_days(TARGETS[0]) == 4


def test_copy_day_ignores_other_disasters(rota: Disaster) -> None:
    other = operation(create_disaster("other-rain", "別の豪雨", date(2023, 7, 1), hq()))
    entry(SOURCE, 9, op=other)
    copy_day(rota, SOURCE, TARGETS[:1], EntryFilter(), actor=hq("copier"))
    assert _count(TARGETS[0]) == 3
    assert _person_days(TARGETS[0]) == 11


def test_copy_day_refuses_the_whole_copy_if_one_target_collides(rota: Disaster) -> None:
    entry(date(2023, 8, 3), 6, sender=NOSHIRO)
    with pytest.raises(DuplicateEntry) as refused:
        copy_day(rota, SOURCE, TARGETS, EntryFilter(), actor=hq("copier"))
    assert refused.value.keys == [_key(date(2023, 8, 3), sender=NOSHIRO)]
    assert _count() == 4
    assert _person_days() == 17
    assert _count(date(2023, 8, 2)) == 0


def test_copy_day_refuses_an_empty_source(rota: Disaster) -> None:
    with pytest.raises(Refusal, match="コピー元が空です"):
        copy_day(rota, date(2023, 8, 10), TARGETS, EntryFilter(), actor=hq("copier"))
    assert _count() == 3


def test_copy_day_refuses_a_source_emptied_by_the_filter(rota: Disaster) -> None:
    with pytest.raises(Refusal, match="コピー元が空です"):
        copy_day(rota, SOURCE, TARGETS, EntryFilter(destination=NOSHIRO), actor=hq("copier"))
    assert _count() == 3


def test_copy_day_refuses_the_source_as_a_target(rota: Disaster) -> None:
    with pytest.raises(Refusal, match="コピー元と同じ日"):
        copy_day(rota, SOURCE, [date(2023, 8, 2), SOURCE], EntryFilter(), actor=hq("copier"))
    assert _count() == 3


# --- update_entry, delete_entry ---------------------------------------------------------------


def test_update_entry_moves_an_entry(ctx: None) -> None:
    moved = entry(date(2023, 8, 1), 3)
    update_entry(moved, draft(date(2023, 8, 2), 4, destination=AKITA_CITY), actor=hq("editor"))
    db.session.expire_all()
    again = db.session.get(Entry, moved.id)
    assert (again.date, again.headcount, again.destination.code) == (date(2023, 8, 2), 4, AKITA_CITY)
    assert (again.created_by, again.updated_by) == ("test", "editor")
    assert _count() == 1
    assert _count(date(2023, 8, 1)) == 0


def test_update_entry_may_keep_its_own_key(ctx: None) -> None:
    kept = entry(date(2023, 8, 1), 3)
    update_entry(kept, draft(date(2023, 8, 1), 6), actor=hq("editor"))
    assert _person_days() == 6
    assert _count() == 1


def test_update_entry_refuses_a_move_onto_an_existing_key(ctx: None) -> None:
    entry(date(2023, 8, 1), 3)
    other = entry(date(2023, 8, 2), 4)
    with pytest.raises(DuplicateEntry) as refused:
        update_entry(other, draft(date(2023, 8, 1), 9), actor=hq("editor"))
    assert refused.value.keys == [_key(date(2023, 8, 1))]
    db.session.expire_all()
    assert db.session.get(Entry, other.id).date == date(2023, 8, 2)
    assert _person_days(date(2023, 8, 1)) == 3
    assert _person_days(date(2023, 8, 2)) == 4


def test_update_entry_refuses_an_invalid_draft(ctx: None) -> None:
    kept = entry(date(2023, 8, 1), 3)
    with pytest.raises(Refusal, match="人数は1以上"):
        update_entry(kept, draft(date(2023, 8, 1), 0), actor=hq("editor"))
    with pytest.raises(Refusal, match="より前の日付です"):
        update_entry(kept, draft(date(2023, 7, 1), 3), actor=hq("editor"))
    db.session.expire_all()
    assert (db.session.get(Entry, kept.id).date, _person_days()) == (date(2023, 8, 1), 3)


def test_delete_entry(ctx: None) -> None:
    gone = entry(date(2023, 8, 1), 3)
    entry(date(2023, 8, 2), 4)
    delete_entry(gone, hq())
    assert _count() == 1
    assert _person_days() == 4
    assert _count(date(2023, 8, 1)) == 0


# --- create_disaster, create_operation ---------------------------------------------------------


def test_create_disaster(ctx: None) -> None:
    created = create_disaster("noto-2024", "  令和6年能登半島地震  ", date(2024, 1, 1), hq())
    assert (created.slug, created.name, created.start_date) == (
        "noto-2024",
        "令和6年能登半島地震",
        date(2024, 1, 1),
    )
    assert created.id is not None


@pytest.mark.parametrize(
    "slug", ["", "Akita-2023", "akita 2023", "-akita", "akita_2023", "秋田", "a" * 65, "akita\n"]
)
def test_create_disaster_refuses_a_bad_slug(ctx: None, slug: str) -> None:
    with pytest.raises(Refusal, match="識別子"):
        create_disaster(slug, "豪雨", date(2023, 7, 14), hq())
    assert db.session.scalar(select(func.count()).select_from(Disaster)) == 0


def test_create_disaster_accepts_the_longest_slug(ctx: None) -> None:
    assert create_disaster("a" * 64, "豪雨", date(2023, 7, 14), hq()).slug == "a" * 64


def test_create_disaster_refuses_an_empty_name(ctx: None) -> None:
    with pytest.raises(Refusal, match="災害名を入力してください。"):
        create_disaster("akita-2023-rain", "　 ", date(2023, 7, 14), hq())


def test_create_disaster_refuses_a_duplicate_slug(ctx: None) -> None:
    create_disaster("akita-2023-rain", "令和5年7月14日からの大雨", date(2023, 7, 14), hq())
    with pytest.raises(Refusal, match="災害「akita-2023-rain」は登録済みです。"):
        create_disaster("akita-2023-rain", "別名", date(2023, 7, 15), hq())
    assert db.session.scalar(select(func.count()).select_from(Disaster)) == 1


def test_create_operation_numbers_display_order(ctx: None) -> None:
    rain = disaster()
    first = create_operation(rain, "mutual-aid", "災害時の相互応援協定に基づく派遣", hq())
    second = create_operation(rain, "water-supply", "応急給水業務に係る派遣", hq())
    explicit = create_operation(rain, "relief-act", "災害救助法業務に係る派遣", hq(), display_order=10)
    after = create_operation(rain, "recovery-support", "災害復旧支援業務に係る派遣", hq())
    orders = [op.display_order for op in (first, second, explicit, after)]
    assert orders == [1, 2, 10, 11]


@pytest.mark.parametrize("code", ["", "Mutual", "mutual aid", "-x", "相互応援"])
def test_create_operation_refuses_a_bad_code(ctx: None, code: str) -> None:
    with pytest.raises(Refusal, match="派遣区分のコード"):
        create_operation(disaster(), code, "派遣", hq())


def test_create_operation_refuses_an_empty_name(ctx: None) -> None:
    with pytest.raises(Refusal, match="派遣区分名を入力してください。"):
        create_operation(disaster(), "mutual-aid", " ", hq())


def test_create_operation_refuses_a_duplicate_within_the_disaster(ctx: None) -> None:
    rain = disaster()
    create_operation(rain, "mutual-aid", "一", hq())
    with pytest.raises(Refusal, match="派遣区分「mutual-aid」は登録済みです。"):
        create_operation(rain, "mutual-aid", "二", hq())
    create_operation(disaster("other-rain"), "mutual-aid", "他の災害なら同じコードでよい", hq())
    assert db.session.scalar(select(func.count()).select_from(Operation)) == 2


# --- seed_founding_case ------------------------------------------------------------------------


def test_seed_founding_case_is_idempotent(ctx: None) -> None:
    first = seed_founding_case()
    assert (first.disaster.slug, first.added_entries, first.added_person_days) == (
        "akita-2023-rain",
        549,
        2319,
    )
    second = seed_founding_case()
    assert (second.added_entries, second.added_person_days) == (0, 0)
    assert second.disaster.id == first.disaster.id
    assert _count() == 549
    assert _person_days() == 2319
    assert db.session.scalar(select(func.count()).select_from(Disaster)) == 1
    assert [(op.code, op.display_order, op.end_date) for op in second.disaster.operations] == [
        ("mutual-aid", 1, date(2023, 8, 31)),
        ("recovery-support", 2, date(2023, 9, 29)),
        ("relief-act", 3, None),
        ("water-supply", 4, date(2023, 7, 26)),
    ]
    assert [p.code for p in second.disaster.prefectures] == ["050008"]


def test_seed_founding_case_adds_only_what_is_missing(ctx: None) -> None:
    seed_founding_case()
    removed = db.session.scalar(select(Entry).where(Entry.date == date(2023, 8, 31)).order_by(Entry.id))
    headcount = removed.headcount
    delete_entry(removed, hq())
    again = seed_founding_case()
    assert (again.added_entries, again.added_person_days) == (1, headcount)
    assert headcount == 10
    assert _person_days() == 2319


# --- the entry form's selects ----------------------------------------------------------------------------


@pytest.mark.parametrize("chosen", ["", "water", "a&b"])
def test_the_entry_forms_selects_render_as_wtforms_own(chosen: str) -> None:
    """QuickSelect keeps each rendered option, and must give wtforms' own HTML: the chosen option selected,
    labels and values escaped, whatever was chosen on the last form."""

    class Form(BaseForm):
        quick = SelectField(widget=QuickSelect())
        plain = SelectField()

    choices = [("water", "応急給水"), ("a&b", '家屋<被害>"認定"'), ("x", "x")]
    for _ in range(2):  # the second time from the kept options
        form = Form(data={"quick": chosen, "plain": chosen})
        form.quick.choices = form.plain.choices = choices
        quick, plain = str(form.quick()), str(form.plain())
        assert quick == plain.replace('"plain"', '"quick"')
    assert "<option selected" in quick or not chosen
    assert "家屋&lt;被害&gt;&#34;認定&#34;" in quick
