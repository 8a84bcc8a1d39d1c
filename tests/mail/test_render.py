"""Every message kind renders in nb, sv and en, as text and HTML, from the registry; the MIME
message carries both parts (and an attachment when there is one)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from portal.datamap import load_datamap
from portal.demo import DATAMAP_PATH
from portal.mail.kinds import KINDS, UnknownMessageKind, render_message
from portal.mail.render import Attachment, Rendered, mime_message
from portal.templating import TEMPLATES_DIR
from tests.mail.support import BASE_URL, SITE, START

CONTROLLER = load_datamap(DATAMAP_PATH).controller
REQUEST = {
    "request_id": 42,
    "type": "erasure",
    "received_at": "2026-11-24T09:00:00+00:00",
    "due_at": "2026-12-24T09:00:00+00:00",
    "has_account": True,
    "reason": "We need <b>your</b> order number.",
}
CONTEXTS: dict[str, dict[str, Any]] = {
    "request_received": REQUEST,
    "more_info": REQUEST,
    "deadline_extended": REQUEST,
    "request_completed": REQUEST,
    "request_rejected": REQUEST,
    "request_merged": {**REQUEST, "kept_id": 41},
    "confirm_address": {"confirm_url": "/verify/abc.def", "expires_at": "2026-11-25T09:00:00"},
    "export_ready": {
        "export_id": 3,
        "request_id": 42,
        "page": "/me/exports/3",
        "expires_at": "2026-12-01T09:00:00+00:00",
    },
    "export_link_ready": {
        "request_id": 42,
        "downloads": [
            {"file": "pdf", "url": "http://testserver/requests/download?t=a"},
            {"file": "zip", "url": "http://testserver/requests/download?t=b"},
            {"file": "json", "url": "http://testserver/requests/download?t=c"},
        ],
        "expires_at": "2026-12-01T09:00:00+00:00",
    },
    "request_confirm": {
        "confirm_url": "http://testserver/requests/confirm?t=x",
        "type": "access",
        "expires_at": "2026-11-25T09:00:00+00:00",
    },
    "request_link": {
        "requests": [
            {"request_id": 42, "type": "access", "follow_url": "/requests/follow?t=y"},
            {"request_id": 43, "type": "erasure", "follow_url": "/requests/follow?t=z"},
        ]
    },
    "erasure_outcome": {
        "request_id": 42,
        "plan_id": 1,
        "received_on": "2026-11-24",
        "lines": ["2 records were erased"],
        "nothing_held": False,
        "holds_anything": False,
        "kept_to_a_date": False,
        "kept_while_open": False,
        "letter_attached": False,
        "controller": {
            "name": CONTROLLER.name,
            "contact": CONTROLLER.contact,
            "dpo_contact": CONTROLLER.dpo_contact,
            "supervisory_authority": "Datatilsynet",
        },
    },
    "restriction_lifted": {
        "hold_id": 1,
        "request_id": 42,
        "lifted_at": "2026-11-24T09:00:00+00:00",
        "has_account": True,
    },
    "new_request": {"request_id": 42, "type": "access", "due_at": "2026-12-24T09:00:00+00:00"},
    "subject_answered": {
        "request_id": 42,
        "type": "access",
        "due_at": "2026-12-30T09:00:00+00:00",
    },
    "deadline_reminder": {
        "request_id": 42,
        "due_at": "2026-12-24T09:00:00+00:00",
        "threshold": "overdue",
    },
    "job_parked": {"job_id": 9, "job_kind": "mail.deliver"},
    "hold_review": {"hold_id": 7, "review_on": "2026-12-01"},
    "recipient_task": {
        "task_id": 3,
        "request_id": 42,
        "action": "erasure",
        "recipient_name": "Posten Bring",
        "categories": ["Purchases", "Contact details"],
        "records": ["Order O00000001, 3 Apr 2025"],
        "more_records": 1,
        "identifiers": [],
        "controller": {
            "name": CONTROLLER.name,
            "contact": CONTROLLER.contact,
            "dpo_contact": CONTROLLER.dpo_contact,
        },
    },
}


def test_every_kind_has_a_context_here_and_both_templates() -> None:
    assert set(CONTEXTS) == set(KINDS)
    for kind in KINDS:
        assert (TEMPLATES_DIR / "emails" / f"{kind}.txt").is_file()
        assert (TEMPLATES_DIR / "emails" / f"{kind}.html").is_file()


@pytest.mark.parametrize("kind", sorted(CONTEXTS))
def test_each_kind_renders_in_each_language(kind: str) -> None:
    rendered = {
        language: render_message(kind, CONTEXTS[kind], language, SITE)
        for language in ("nb", "sv", "en")
    }
    for language, message in rendered.items():
        assert message.subject and "\n" not in message.subject
        assert message.text.endswith("\n") and "\n\n\n" not in message.text
        assert f'<html lang="{language}">' in message.html
        assert f"<title>{message.subject}" in message.html or "&" in message.subject
        assert "src=" not in message.html and "<script" not in message.html  # nothing fetched
        # Every link in the text is a link in the HTML too.
        for word in message.text.split():
            if word.startswith("http"):
                assert f'href="{word}"' in message.html
    # Each language has its own words.
    assert len({m.text for m in rendered.values()}) == 3


def test_what_the_dpo_wrote_is_escaped_in_html_and_kept_in_text() -> None:
    message = render_message("more_info", REQUEST, "en", SITE)
    assert "We need <b>your</b> order number." in message.text
    assert "We need &lt;b&gt;your&lt;/b&gt; order number." in message.html
    assert "<b>your</b>" not in message.html


def test_links_are_under_the_portal_url() -> None:
    confirm = render_message("confirm_address", CONTEXTS["confirm_address"], "en", SITE)
    assert f"{BASE_URL}/verify/abc.def" in confirm.text
    received = render_message("request_received", REQUEST, "en", SITE)
    assert f"{BASE_URL}/me/requests/42" in received.text
    # A request filed without BankID links where its person follows it, not the signed-in page.
    other = {**REQUEST, "has_account": False, "follow_url": "/follow/xyz"}
    received = render_message("request_received", other, "en", SITE)
    assert f"{BASE_URL}/follow/xyz" in received.text and "/me/requests" not in received.text


def test_a_request_filed_without_bankid_links_the_follow_link_signed_when_sent() -> None:
    """``follow`` in the context: the sender signs the link as it renders; where no link is
    signed (the Messages page, whose reader has signed in), the request's page."""
    signed: list[tuple[int, str]] = []

    def follow_link(request_id: int, language: str) -> str:
        signed.append((request_id, language))
        return f"{BASE_URL}/requests/follow?t=signed"

    sender = replace(SITE, follow_link=follow_link)
    filed = {**REQUEST, "has_account": False, "follow": True}
    for kind in ("request_received", "more_info", "request_completed", "request_rejected"):
        message = render_message(kind, filed, "sv", sender)
        assert f"{BASE_URL}/requests/follow?t=signed" in message.text
        assert "/me/requests" not in message.text
    assert signed[0] == (42, "sv")
    on_page = render_message("more_info", filed, "sv", SITE)
    assert f"{BASE_URL}/me/requests/42" in on_page.text and "follow" not in on_page.text
    # The confirmation thanks the person, and says the DPO checks who they are.
    received = render_message("request_received", filed, "en", sender)
    assert "Thank you for confirming your e-mail address." in received.text
    assert "checks who you are" in received.text
    assert "Thank you" not in render_message("request_received", REQUEST, "en", SITE).text


def test_days_are_the_controller_s_and_moments_show_hours_and_minutes() -> None:
    """A deadline at 23:30 UTC is the next day in Oslo; a link's end shows its time."""
    late = {**REQUEST, "due_at": "2026-12-24T23:30:00+00:00"}
    assert "25 Dec 2026" in render_message("request_received", late, "en", SITE).text
    assert "25. des. 2026" in render_message("request_received", late, "nb", SITE).text
    legacy = {**REQUEST, "due_at": None, "due_on": "2026-12-24"}  # queued before moments
    assert "24 Dec 2026" in render_message("request_received", legacy, "en", SITE).text
    confirm = {"confirm_url": "/c", "expires_at": "2026-11-25T09:00:00+00:00"}
    assert "25 Nov 2026, 10:00" in render_message("confirm_address", confirm, "en", SITE).text


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(UnknownMessageKind):
        render_message("no_such_kind", {}, "nb", SITE)


def test_the_mime_message_has_text_and_html_alternatives_and_the_attachment() -> None:
    rendered = render_message("request_received", REQUEST, "nb", SITE)
    letter = Attachment("outcome-letter-42.pdf", "application/pdf", b"%PDF-1.7 test")
    with_letter = Rendered(rendered.subject, rendered.text, rendered.html, (letter,))
    message = mime_message(
        with_letter,
        sender="personvern@nordlys.example",
        recipient="kari@example.no",
        message_id="<1@nordlys.example>",
        language="nb",
        date=START,
    )
    assert message.get_content_type() == "multipart/mixed"
    body = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert body is not None and html is not None
    assert body.get_content().replace("\r\n", "\n") == rendered.text
    [attached] = message.iter_attachments()
    assert attached.get_filename() == "outcome-letter-42.pdf"
    assert attached.get_content() == b"%PDF-1.7 test"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "nb"
    assert message["Message-ID"] == "<1@nordlys.example>"
