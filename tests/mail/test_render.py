"""Every message kind renders in nb, sv and en, as text and HTML, from the registry; the MIME
message carries both parts (and an attachment when there is one)."""

from __future__ import annotations

from typing import Any

import pytest

from portal.datamap import load_datamap
from portal.demo import DATAMAP_PATH
from portal.mail.kinds import KINDS, UnknownMessageKind, render_message
from portal.mail.render import Attachment, Rendered, mime_message
from portal.templating import TEMPLATES_DIR
from tests.mail.support import BASE_URL, START

CONTROLLER = load_datamap(DATAMAP_PATH).controller
REQUEST = {
    "request_id": 42,
    "type": "erasure",
    "received_on": "2026-11-24",
    "due_on": "2026-12-24",
    "has_account": True,
    "reason": "We need <b>your</b> order number.",
}
CONTEXTS: dict[str, dict[str, Any]] = {
    "request_received": REQUEST,
    "more_info": REQUEST,
    "deadline_extended": REQUEST,
    "request_completed": REQUEST,
    "request_rejected": REQUEST,
    "confirm_address": {"confirm_url": "/verify/abc.def", "expires_on": "2026-11-25"},
    "export_ready": {
        "export_id": 3,
        "request_id": 42,
        "page": "/me/exports/3",
        "expires_on": "2026-12-01",
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
    "restriction_lifted": {"hold_id": 1, "request_id": 42, "lifted_on": "2026-11-24"},
    "new_request": {"request_id": 42, "type": "access", "due_on": "2026-12-24"},
    "deadline_reminder": {"request_id": 42, "due_on": "2026-12-24", "threshold": "overdue"},
    "job_parked": {"job_id": 9, "job_kind": "mail.deliver"},
}


def test_every_kind_has_a_context_here_and_both_templates() -> None:
    assert set(CONTEXTS) == set(KINDS)
    for kind in KINDS:
        assert (TEMPLATES_DIR / "emails" / f"{kind}.txt").is_file()
        assert (TEMPLATES_DIR / "emails" / f"{kind}.html").is_file()


@pytest.mark.parametrize("kind", sorted(CONTEXTS))
def test_each_kind_renders_in_each_language(kind: str) -> None:
    rendered = {
        language: render_message(kind, CONTEXTS[kind], language, BASE_URL)
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
    message = render_message("more_info", REQUEST, "en", BASE_URL)
    assert "We need <b>your</b> order number." in message.text
    assert "We need &lt;b&gt;your&lt;/b&gt; order number." in message.html
    assert "<b>your</b>" not in message.html


def test_links_are_under_the_portal_url() -> None:
    confirm = render_message("confirm_address", CONTEXTS["confirm_address"], "en", BASE_URL)
    assert f"{BASE_URL}/verify/abc.def" in confirm.text
    received = render_message("request_received", REQUEST, "en", BASE_URL)
    assert f"{BASE_URL}/me/requests/42" in received.text
    # A request filed without BankID links where its person follows it, not the signed-in page.
    other = {**REQUEST, "has_account": False, "follow_url": "/follow/xyz"}
    received = render_message("request_received", other, "en", BASE_URL)
    assert f"{BASE_URL}/follow/xyz" in received.text and "/me/requests" not in received.text


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(UnknownMessageKind):
        render_message("no_such_kind", {}, "nb", BASE_URL)


def test_the_mime_message_has_text_and_html_alternatives_and_the_attachment() -> None:
    rendered = render_message("request_received", REQUEST, "nb", BASE_URL)
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
