"""The digest's 未充足 line, through a real SMTP server (aiosmtpd on 127.0.0.1), on the founding case.

五城目町 asks for 30 people a day for 家屋被害認定調査 from 7/25. On 7/31 it received 11 for that duty (秋田県
（建設部） 4, 由利本荘市 3, 鹿角市 2, 三種町 2; see test_digest.py), so the digest dated 8/1 says
「未充足: 五城目町 家屋被害認定調査 30人/日のうち11人」, to 五城目町 and to the division. On 8/1 the same four
are logged (11); 横手市 sends 19 more that day, so the digest dated 8/2 (covering 8/1) has no such line.
"""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage

import pytest
from flask import Flask

from dispatch.delivery import send_due_digests
from dispatch.entries import log_entries
from dispatch.extensions import db
from dispatch.seeding import seed_founding_case
from tests import factories
from tests.factories import GOJOME, SLUG, YOKOTE, draft
from tests.smtp import SMTPServer
from tests.test_digest import add_recipient

GOSHIN = "goshin@example.lg.jp"
DIVISION = "division@pref.akita.example.lg.jp"
LINE = "未充足: 五城目町 家屋被害認定調査 30人/日のうち11人"


@pytest.fixture
def short_of_staff(mail_app: Flask) -> None:
    with mail_app.app_context():
        result = seed_founding_case()
        add_recipient(GOJOME, GOSHIN)
        add_recipient(None, DIVISION)
        factories.staff_request(
            result.disaster,
            "五城目-1",
            GOJOME,
            "damage_survey",
            30,
            date(2023, 7, 25),
            date(2023, 8, 31),
            received_on=date(2023, 7, 24),
        )
        db.session.commit()


def body(server: SMTPServer, address: str, day: int) -> str:
    messages: list[EmailMessage] = [m.parsed() for m in server.messages if address in m.rcpt_tos]
    content = messages[day].get_content()
    assert isinstance(content, str)
    return content


def test_the_gap_line_appears_and_goes_when_filled(
    mail_app: Flask, short_of_staff: None, smtp_server: SMTPServer
) -> None:
    with mail_app.app_context():
        first = send_due_digests(date(2023, 8, 1), worker="test")
        assert first.sent == 2
    assert LINE in body(smtp_server, GOSHIN, 0).splitlines()
    assert LINE in body(smtp_server, DIVISION, 0).splitlines()

    with mail_app.app_context():
        rain = factories.disaster(SLUG)
        op = factories.operation(rain, "mutual-aid")
        log_entries(
            [
                draft(
                    date(2023, 8, 1), 19, op=op, sender=YOKOTE, destination=GOJOME, duty_code="damage_survey"
                )
            ],
            actor=factories.hq(),
        )
        db.session.commit()
        second = send_due_digests(date(2023, 8, 2), worker="test")
        assert second.sent == 2
    for address in (GOSHIN, DIVISION):
        assert "未充足" not in body(smtp_server, address, 1)
