"""Who may reach what: one table, checked before every request, denying whatever it does not list.

A view added without a line here is refused to everyone (the tests list every route against this table),
so nobody has to remember a decorator. Municipality users read only entries whose sender or destination is
their own organisation; `visible_to` gives the filter that every list, total and export applies.
"""

from __future__ import annotations

from flask import Flask, abort, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from .models import Role, User

EVERYONE = frozenset(Role)
STAFF = frozenset({Role.ADMIN, Role.HQ, Role.REVIEWER})
WRITERS = frozenset({Role.ADMIN, Role.HQ, Role.REVIEWER})
CLOSERS = frozenset({Role.ADMIN, Role.REVIEWER})
ADMINS = frozenset({Role.ADMIN})
# Requests (要請): HQ enters and edits them; a municipality may enter its own body's requests.
REQUEST_EDITORS = frozenset({Role.ADMIN, Role.HQ})
REQUEST_ENTRY = frozenset({Role.ADMIN, Role.HQ, Role.MUNICIPALITY})
# Who keeps the roster of people and teams, and who may read names at all (reviewers see counts only).
ROSTER_EDITORS = frozenset({Role.ADMIN, Role.HQ})
NAMES = frozenset({Role.ADMIN, Role.HQ, Role.MUNICIPALITY})

# Reachable without logging in.
PUBLIC = frozenset({"auth.login", "health.healthz", "static"})

PERMISSIONS: dict[str, frozenset[Role]] = {
    "auth.logout": EVERYONE,
    "auth.change_password": EVERYONE,
    "dashboard.index": EVERYONE,
    "dashboard.overview": EVERYONE,
    "dashboard.report": EVERYONE,
    # The same pages as PDFs, scoped as the pages are (visible_to).
    "dashboard.overview_pdf": EVERYONE,
    "dashboard.report_pdf": EVERYONE,
    "totals.totals_page": EVERYONE,
    "totals.totals_json": EVERYONE,
    "entries.entry_list": EVERYONE,
    "entries.entry_history": EVERYONE,
    "entries.new_entry": WRITERS,
    # The day grid (pages/day_grid.py) and the type-ahead it asks.
    "day_grid.day_grid": WRITERS,
    "day_grid.lookup_json": WRITERS,
    "batches.new_period": WRITERS,
    "batches.copy_entries": WRITERS,
    "entries.edit_entry": WRITERS,
    "entries.delete_entry_page": WRITERS,
    "imports.import_page": WRITERS,
    "imports.import_template_csv": WRITERS,
    "imports.import_template_xlsx": WRITERS,
    "imports.import_progress": WRITERS,
    "closing.closing_page": CLOSERS,
    "closing.close_up_to": CLOSERS,
    # 名簿の人数を採用 on a flagged entry (disagreements.py): those who edit entries.
    "closing.accept_roster_figure": WRITERS,
    "audit.audit_log": CLOSERS,
    "audit.audit_export": CLOSERS,
    "audit.restore_entry_view": CLOSERS,
    # Disasters and operations (pages/disasters.py): the division and the administrator run them.
    "disasters.new_disaster": CLOSERS,
    "disasters.settings": CLOSERS,
    "disasters.update_disaster": CLOSERS,
    "disasters.close_disaster": CLOSERS,
    "disasters.reopen_disaster": CLOSERS,
    "disasters.add_operation": CLOSERS,
    "disasters.rename_operation": CLOSERS,
    "disasters.move_operation": CLOSERS,
    "disasters.end_operation": CLOSERS,
    "disasters.reopen_operation": CLOSERS,
    "disasters.set_section": CLOSERS,
    # 団体マスタ (pages/organisations.py): the administrator's.
    "organisations.organisation_list": ADMINS,
    "organisations.add_organisation": ADMINS,
    "organisations.organisation_page": ADMINS,
    "organisations.toggle_active": ADMINS,
    "admin.users": ADMINS,
    "admin.new_user": ADMINS,
    "admin.edit_user": ADMINS,
    "admin.reset_password_view": ADMINS,
    # Visibility is the export's filter (visible_to), as on the pages.
    "exports.entries_csv": EVERYONE,
    "exports.entries_xlsx": EVERYONE,
    "exports.totals_csv": EVERYONE,
    "exports.totals_xlsx": EVERYONE,
    "exports.monthly_csv": EVERYONE,
    "exports.monthly_xlsx": EVERYONE,
    # A large workbook built as a job: only the one who asked for it, or an administrator (export_jobs.job_for).
    "exports.export_job": EVERYONE,
    "exports.export_job_file": EVERYONE,
    # Digests (mail_views): a municipality reads its own recipients and previews its own digest only.
    "recipients.recipients_admin": ADMINS,
    "recipients.edit_recipient": ADMINS,
    "recipients.toggle_recipient": ADMINS,
    "recipients.delete_recipient_page": ADMINS,
    "recipients.own_recipients": EVERYONE,
    "digests.preview": frozenset({Role.ADMIN, Role.REVIEWER, Role.MUNICIPALITY}),
    "digests.deliveries": ADMINS,
    "digests.test_mail": ADMINS,
    "digests.resend_delivery": ADMINS,
    "digests.acknowledge_failures": CLOSERS,
    # Requests and fill (pages/requests.py): HQ enters, reviewers close, a municipality its own body's.
    "fill.fill_json": EVERYONE,
    "fill.fill_page": EVERYONE,
    "requests.request_list_page": EVERYONE,
    "requests.request_page": EVERYONE,
    "requests.new_request": REQUEST_ENTRY,
    "requests.edit_request": REQUEST_EDITORS,
    "requests.revise_request_page": REQUEST_EDITORS,
    "requests.withdraw_request_page": REQUEST_EDITORS,
    "requests.add_assignment_page": REQUEST_EDITORS,
    # Which request an entry fills where several match: HQ, and a municipality for its own body's requests
    # (pages/request_links.py refuses it another's).
    "request_links.links_page": REQUEST_ENTRY,
    "request_links.link_entries_page": REQUEST_ENTRY,
    # 要請中 / 調整中 by HQ; 終了 by reviewers (checked in the page).
    "requests.request_state": frozenset({Role.ADMIN, Role.HQ, Role.REVIEWER}),
    "counterparts.counterpart_list": EVERYONE,
    "counterparts.add_counterpart_page": REQUEST_EDITORS,
    "request_files.import_requests_page": REQUEST_EDITORS,
    # Visibility is the export's filter (visible_to), as on the pages.
    "request_files.requests_csv": EVERYONE,
    "request_files.requests_xlsx": EVERYONE,
    "request_files.fill_csv": EVERYONE,
    "request_files.fill_xlsx": EVERYONE,
    # People and teams (pages/roster.py, pages/field.py): names for admin and HQ, a municipality's own and
    # received people (field.py narrows every query), counts only for reviewers; lists of people (personal
    # data) not at all for reviewers.
    "roster.people": EVERYONE,
    "roster.person_page": NAMES,
    "roster.new_person": ROSTER_EDITORS,
    "roster.edit_person": ROSTER_EDITORS,
    "roster.remove_person_view": ROSTER_EDITORS,
    "roster.erase_person_view": ADMINS,
    "roster.teams": EVERYONE,
    "roster.team_page": EVERYONE,
    "roster.new_team": ROSTER_EDITORS,
    "roster.edit_team": ROSTER_EDITORS,
    "roster.add_member": ROSTER_EDITORS,
    "roster.drop_member_view": ROSTER_EDITORS,
    "roster.travel_days": ROSTER_EDITORS,
    "roster_imports.import_roster": ROSTER_EDITORS,
    "roster_imports.import_template_csv": ROSTER_EDITORS,
    "roster_imports.import_template_xlsx": ROSTER_EDITORS,
    "field.field_page": EVERYONE,
    "field.rotation": EVERYONE,
    "field.roster_csv": NAMES,
    "field.roster_xlsx": NAMES,
}


def allowed(user: User, endpoint: str | None) -> bool:
    if endpoint in PUBLIC:
        return True
    roles = PERMISSIONS.get(endpoint or "")
    return roles is not None and user.user_role in roles


def visible_to(user: User) -> int | None:
    """The organisation whose entries alone this user may see, or None for every entry."""
    if user.user_role is Role.MUNICIPALITY:
        return user.organisation_id
    return None


def register(app: Flask) -> None:
    @app.before_request
    def _deny_by_default() -> Response | None:
        if request.endpoint in PUBLIC:
            return None
        if not current_user.is_authenticated:
            if request.endpoint is None:
                abort(404)
            # Only a page can be returned to after logging in; a form post cannot be replayed.
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("auth.login", next=target))
        if not allowed(current_user, request.endpoint):
            abort(404 if request.endpoint is None else 403)
        return None
