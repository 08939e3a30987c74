"""Every page, for every role, on a phone (390 × 844) in headless Chromium.

Nothing may scroll sideways, the header must stay one short line with its menu closed, and chart text must
read at 11 px or more as displayed (the SVGs scale with the page). The pages are not listed by hand: every
GET route a role may reach (access.PERMISSIONS, or PUBLIC for nobody logged in) is visited with the demo's
disaster, one of its entries, a user and a recipient. Routes that name a file (.csv, .xlsx, .json, .pdf) and
those that answer anything but text/html (/healthz) are downloads, not pages, and are left out by that rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page

from dispatch import access, export_jobs, import_jobs
from dispatch.access import visible_to
from dispatch.closing import close_day
from dispatch.entries import EntryDraft, delete_entry, update_entry
from dispatch.extensions import db
from dispatch.models import Delivery, DeliveryStatus, Disaster, Entry, Role, User
from dispatch.query import EntryFilter
from dispatch.recipients import add_recipient
from dispatch.requests import add_assignment
from dispatch.roster import PersonFields, TeamFields, add_person, add_team, set_member
from tests import factories
from tests.browser import chromium, live_server, log_in
from tests.factories import AKITA_CITY, OGA, PASSWORD, SLUG, logged_in, make_user

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
MIN_CHART_TEXT_PX = 11.0
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "phone"

# Query strings that show a page with something on it; a page not named here is visited without one.
QUERIES: dict[str, dict[str, str]] = {
    "dashboard.overview": {"as_of": "2023-10-31"},
    "dashboard.report": {"as_of": "2023-10-31"},
    "totals.totals_page": {"as_of": "2023-10-31"},
    "digests.preview": {"date": "2023-08-01"},
    "closing.close_up_to": {"up_to": "2023-10-31"},
    "field.field_page": {"date": "2023-08-01"},
    # The grid at its widest: 昨日と同じ's 18 rows, each flagged as already entered.
    "day_grid.day_grid": {"date": "2023-08-02", "from": "2023-08-01"},
}

# What the page measures: sideways overflow, the header, and the smallest chart text as displayed
# (its font size in the SVG's units times the SVG's scale on screen).
MEASURE = """() => {
  const header = document.querySelector("header.site");
  const sizes = [...document.querySelectorAll("svg text")]
    .filter((t) => t.checkVisibility() && t.textContent.trim())
    .map((t) => {
      const m = t.getScreenCTM();
      return [parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b), t.textContent.trim()];
    })
    .sort((a, b) => a[0] - b[0]);
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    header: header ? header.getBoundingClientRect().height : 0,
    chartTexts: sizes.length,
    smallest: sizes.length ? sizes[0] : null,
    title: document.title,
  };
}"""


@dataclass(frozen=True)
class Visit:
    endpoint: str
    url: str


@dataclass(frozen=True)
class Login:
    name: str
    user: User | None  # None: nobody logged in


@dataclass(frozen=True)
class PhoneDemo:
    app: Flask
    logins: list[Login]
    values: dict[str, int]  # path arguments: an entry 男鹿市 sees, a user, a recipient
    # Each login's own large-export job (only its owner may see it), built: its page and its file.
    jobs: dict[str, int]


@pytest.fixture
def phone_demo(app: Flask, demo: None, tmp_path: Path) -> PhoneDemo:
    """The demo with what makes every page show its widest content: an edited and a deleted entry (history,
    audit log with its restore form), closed days, recipients and a failed delivery with its error."""
    oga = make_user(app, Role.MUNICIPALITY, "phone-oga", OGA)
    logins = [
        Login("admin", make_user(app, Role.ADMIN, "phone-admin")),
        Login("hq", make_user(app, Role.HQ, "phone-hq")),
        Login("reviewer", make_user(app, Role.REVIEWER, "phone-reviewer")),
        Login("municipality", oga),
        Login("anonymous", None),
    ]
    with app.app_context():
        disaster = db.session.scalars(db.select(Disaster).filter_by(slug=SLUG)).one()
        to_oga = db.session.scalars(
            db.select(Entry).where(Entry.destination.has(code=OGA)).order_by(Entry.id)
        ).all()
        edited, deleted = to_oga[0], to_oga[-1]
        reviewer = factories.reviewer("phone-reviewer")
        for day in (date(2023, 7, 16), date(2023, 7, 17), date(2023, 7, 18)):
            close_day(disaster, day, reviewer)
        update_entry(
            edited,
            replace(_draft_of(edited), headcount=edited.headcount + 1, note="交代要員を追加"),
            reviewer,
            reason="派遣元からの報告で人数を訂正",
        )
        delete_entry(deleted, reviewer, reason="重複して登録していたため")
        division = add_recipient(
            None, "sogo-bousai@pref.akita.lg.jp", actor=factories.admin(), note="総合防災課長"
        )
        at_oga = add_recipient(
            factories.org(OGA),
            "kikikanri-bousai@city.oga.akita.jp",
            actor=factories.admin(),
            note="総務課防災係（夜間は当直）",
            send_empty=True,
        )
        db.session.add(
            Delivery(
                digest_date=date(2023, 8, 1),
                recipient_id=at_oga.id,
                status=DeliveryStatus.FAILED.value,
                attempts=3,
                claimed_by="scheduler@dispatch-01",
                next_attempt_at=datetime(2023, 8, 1, 0, 45, tzinfo=UTC),
                last_error="SMTPサーバー mail.pref.akita.lg.jp:587 に接続できません（接続を拒否されました）",
                subject="【応援職員派遣 日報】男鹿市 令和5年7月31日分",
            )
        )
        db.session.add(
            Delivery(
                digest_date=date(2023, 8, 1),
                recipient_id=division.id,
                status=DeliveryStatus.SENT.value,
                sent_at=datetime(2023, 7, 31, 23, 0, tzinfo=UTC),
                subject="【応援職員派遣 日報】令和5年7月14日からの大雨 令和5年7月31日分",
            )
        )
        asked = factories.staff_request(
            disaster,
            "男鹿-001",
            OGA,
            "water_supply",
            6,
            date(2023, 7, 21),
            date(2023, 8, 31),
            received_on=date(2023, 7, 20),
            place="男鹿市役所 給水所（船川港）",
            conditions="8:30〜17:15、時間外あり",
        )
        add_assignment(
            asked,
            factories.org(AKITA_CITY),
            factories.hq(),
            persons=4,
            date_from=date(2023, 7, 21),
            date_to=date(2023, 8, 31),
            decided_on=date(2023, 7, 20),
        )
        person_id, team_id = _roster_to_oga(disaster)
        db.session.commit()
        values = {
            "entry_id": edited.id,
            "recipient_id": at_oga.id,
            "user_id": oga.id,
            "request_id": asked.id,
            "person_id": person_id,
            "team_id": team_id,
        }
        app.config["EXPORT_JOB_FOLDER"] = str(tmp_path / "exports")
        # Each login's own export job, built: only its owner may see its progress page and its file.
        jobs = {}
        for login in logins:
            if login.user is None:
                continue
            flt, as_of = EntryFilter(visible_to=visible_to(login.user)), date(2023, 10, 31)
            name = "集計_令和5年10月31日時点.xlsx"
            jobs[login.name] = export_jobs.ask(login.user, disaster, "totals", flt, as_of, name).id
        db.session.commit()
        export_jobs.run_pending("phone-test")
        # Each login's own background import, part written: only its owner may see its progress page.
        for login in logins:
            if login.user is not None:
                progress = import_jobs.Progress(
                    owner=login.user.username, filename="rota.csv", total=60_000, done=25_000, state="writing"
                )
                import_jobs.record(app, f"phone-{login.name}", progress)
    return PhoneDemo(app, logins, values, jobs)


def _roster_to_oga(disaster: Disaster) -> tuple[int, int]:
    """A team of 秋田県 to 男鹿市 with a member whose names run long (issue 17's pages): 男鹿市 may see both."""
    operation = disaster.operations[0]
    team = add_team(
        disaster,
        TeamFields(
            number=1, team_type="water", operation=operation, sender=factories.org(factories.AKITA_PREF),
            destination=factories.org(OGA), duty=factories.duty("damage_survey"), start_date=date(2023, 8, 1),
            end_date=date(2023, 8, 7), receiving_section="市災害対策本部事務局（被災者支援班・住家被害認定担当）",
            travel_at_start=True,
        ),
        factories.hq(),
    )  # fmt: skip
    person = add_person(
        disaster,
        PersonFields(
            name="秋田 長い名前の職員", kana="アキタ ナガイナマエノショクイン", sender=factories.org(factories.AKITA_PREF),
            staff_kind="prefecture", sender_unit="総務部総合防災課危機管理対策室", position="主任主査",
            contact="018-860-0000（内線 12345）",
        ),
        factories.hq(),
    )  # fmt: skip
    set_member(team, person, team.start_date, team.end_date, factories.hq())
    return person.id, team.id


def _draft_of(entry: Entry) -> EntryDraft:
    return EntryDraft(
        date=entry.date,
        operation=entry.operation,
        sender=entry.sender,
        destination=entry.destination,
        duty=entry.duty,
        headcount=entry.headcount,
        sender_unit=entry.sender_unit,
        note=entry.note,
    )


def reachable(
    app: Flask, login: Login, values: dict[str, Any], jobs: dict[str, int]
) -> tuple[list[Visit], list[str]]:
    """Every GET route the login may reach, as a URL with the demo's values; and the routes left out
    because they name a file (.csv, .xlsx, .json, .pdf) or answer something other than HTML (/healthz)."""
    # code: an organisation's page in the 団体マスタ (五城目町).
    path_values = {
        "slug": SLUG,
        "filename": "app.css",
        "code": "053619",
        **values,
        "job_id": jobs.get(login.name),
        "token": f"phone-{login.name}",
    }
    client: FlaskClient = logged_in(app, login.user) if login.user else app.test_client()
    pages, not_pages = [], []
    with app.test_request_context():
        rules = sorted(app.url_map.iter_rules(), key=lambda r: r.rule)
        for rule in rules:
            if "GET" not in (rule.methods or ()):
                continue
            if login.user is None:
                if rule.endpoint not in access.PUBLIC:
                    continue
            elif rule.endpoint not in access.PERMISSIONS or not access.allowed(login.user, rule.endpoint):
                continue
            # A new path argument fails here with its name: give it a value above.
            args = {name: path_values[name] for name in rule.arguments}
            url = url_for(rule.endpoint, **args, **QUERIES.get(rule.endpoint, {}))
            if PurePosixPath(rule.rule).suffix:  # totals.csv, entries.xlsx, report.pdf: a file, not a page
                not_pages.append(url)
                continue
            response = client.get(url)
            response.close()
            assert response.status_code == 200, f"{login.name}: {url} answered {response.status_code}"
            if response.mimetype == "text/html":
                pages.append(Visit(rule.endpoint, url))
            else:
                not_pages.append(url)
    return pages, not_pages


def measure(page: Page) -> dict[str, Any]:
    return page.evaluate(MEASURE)  # type: ignore[no-any-return]


def problems_on(login: str, visit: Visit, found: dict[str, Any]) -> list[str]:
    where = f"{login}: {found['title']} ({visit.endpoint}, {visit.url})"
    problems = []
    if found["scrollWidth"] > found["innerWidth"]:
        problems.append(f"{where} scrolls sideways: {found['scrollWidth']}px wide in {found['innerWidth']}px")
    if found["header"] > PHONE["height"] / 8:
        problems.append(f"{where}: header {found['header']:.0f}px tall, more than 1/8 of {PHONE['height']}px")
    if visit.endpoint == "dashboard.overview" and not found["chartTexts"]:
        problems.append(f"{where}: no chart text to measure")
    if found["smallest"] and found["smallest"][0] < MIN_CHART_TEXT_PX:
        size, text = found["smallest"]
        problems.append(f"{where}: chart text 「{text}」 shows at {size:.1f}px, under {MIN_CHART_TEXT_PX}px")
    return problems


def visit_all(
    browser: Browser, base: str, login: Login, pages: list[Visit]
) -> tuple[list[str], dict[str, Any]]:
    context = browser.new_context(viewport=PHONE, locale="ja-JP")
    page = context.new_page()
    if login.user is not None:
        page.goto(f"{base}/login")
        log_in(page, login.user.username, PASSWORD)
        page.wait_for_url(lambda url: "/login" not in url)
    problems: list[str] = []
    widths: dict[str, Any] = {}
    shots = ARTIFACTS / login.name
    shots.mkdir(parents=True, exist_ok=True)
    for visit in pages:
        response = page.goto(base + visit.url)
        assert response is not None and response.ok, f"{login.name}: {visit.url}"
        found = measure(page)
        widths[visit.endpoint] = found
        problems += problems_on(login.name, visit, found)
        page.screenshot(path=str(shots / f"{visit.endpoint}.png"))
    # The menu where it is longest: on a disaster's pages.
    for visit in pages:
        if visit.endpoint == "dashboard.overview":
            page.goto(base + visit.url)
            problems += menu_problems(page, login.name, shots)
    context.close()
    return problems, widths


def menu_problems(page: Page, login: str, shots: Path) -> list[str]:
    """The header's menu: closed it is one button; open, every link and the logout button show within the
    screen, and nothing scrolls sideways; the button closes it again."""
    toggle = page.get_by_role("button", name="メニュー")
    nav = page.get_by_role("navigation", name="メニュー")
    if not toggle.is_visible() or nav.is_visible():
        return [f"{login}: the menu is not folded behind its button"]
    toggle.click()
    found = measure(page)
    page.screenshot(path=str(shots / "menu-open.png"))
    problems = []
    if toggle.get_attribute("aria-expanded") != "true":
        problems.append(f"{login}: the open menu's button does not say so (aria-expanded)")
    for item in [*nav.get_by_role("link").all(), page.get_by_role("button", name="ログアウト")]:
        box = item.bounding_box()
        if (
            not item.is_visible()
            or box is None
            or box["x"] < 0
            or box["x"] + box["width"] > found["innerWidth"]
        ):
            problems.append(f"{login}: 「{item.inner_text()}」 is not on screen with the menu open")
    if found["scrollWidth"] > found["innerWidth"]:
        problems.append(f"{login}: with the menu open the page is {found['scrollWidth']}px wide")
    toggle.click()
    if nav.is_visible():
        problems.append(f"{login}: the menu does not close")
    return problems


def test_every_page_fits_a_phone(phone_demo: PhoneDemo) -> None:
    app, logins, values = phone_demo.app, phone_demo.logins, phone_demo.values
    plan = {login.name: reachable(app, login, values, phone_demo.jobs) for login in logins}
    # The rule keeps pages and drops downloads: the lists below would go stale if it did not.
    assert "/disasters/akita-2023-rain/entries.csv" in plan["admin"][1]
    assert any(v.endpoint == "entries.entry_list" for v in plan["municipality"][0])
    assert len(plan["admin"][0]) >= 20

    problems: list[str] = []
    measured: dict[str, Any] = {}
    with live_server(app) as base, chromium() as browser:
        for login in logins:
            found, widths = visit_all(browser, base, login, plan[login.name][0])
            problems += found
            measured[login.name] = widths
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "measurements.json").write_text(json.dumps(measured, ensure_ascii=False, indent=1))
    assert not problems, "\n".join(problems)
