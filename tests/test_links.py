"""Signed links (portal/links.py): bound to a purpose and an object, expiring by our clock, and
single-use where they act, the nonce spent in the transaction of the action."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from portal import links
from portal.db import session_scope
from portal.links import Link, LinkNonce, LinkRefused, Purpose, Refusal

SECRET = "k" * 40
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=24)


def refusal(action) -> Refusal:
    with pytest.raises(LinkRefused) as caught:
        action()
    return caught.value.reason


def acting(engine: Engine, object_id: int = 5, expires_at: datetime = LATER) -> str:
    with session_scope(engine) as db:
        link = links.issue(
            db, Purpose.confirm_request, object_id, expires_at=expires_at, now=NOW, language="sv"
        )
    return links.sign(SECRET, link)


def nonces(engine: Engine) -> list[LinkNonce]:
    with Session(engine) as db:
        return list(db.exec(select(LinkNonce)))


def test_a_link_reads_back_with_only_ids_in_it() -> None:
    link = Link(Purpose.follow_request, "12", LATER, language="nb")
    token = links.sign(SECRET, link)
    assert links.verify(SECRET, token, Purpose.follow_request, NOW) == link
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_a_tampered_link_or_one_of_another_purpose_or_key_is_invalid() -> None:
    token = links.sign(SECRET, Link(Purpose.follow_request, "12", LATER))
    other = links.sign(SECRET, Link(Purpose.follow_request, "13", LATER))
    swapped = token.split(".")[0] + "." + other.split(".")[1]
    bad = [
        token[:-2],
        token + "x",
        swapped,
        other.split(".")[0] + "." + token.split(".")[1],
        links.sign("j" * 40, Link(Purpose.follow_request, "12", LATER)),
        "",
        "x" * 3000,
    ]
    for each in bad:
        assert refusal(lambda each=each: links.read(SECRET, each, Purpose.follow_request)) == (
            Refusal.invalid
        )
    # The same token means nothing for another purpose.
    assert refusal(lambda: links.read(SECRET, token, Purpose.confirm_request)) == Refusal.invalid


def test_a_link_expires_by_the_portals_clock_and_says_what_it_was() -> None:
    token = links.sign(SECRET, Link(Purpose.follow_request, "12", LATER, language="sv"))
    links.verify(SECRET, token, Purpose.follow_request, LATER - timedelta(seconds=1))
    with pytest.raises(LinkRefused) as caught:
        links.verify(SECRET, token, Purpose.follow_request, LATER)
    assert caught.value.reason == Refusal.expired
    # An expired link is still ours: the page can answer in its language, and offer a new one.
    assert caught.value.link is not None and caught.value.link.language == "sv"


def test_a_personal_link_serves_only_its_person() -> None:
    token = links.sign(SECRET, Link(Purpose.confirm_address, "3", LATER, subject_id=7))
    links.verify(SECRET, token, Purpose.confirm_address, NOW, subject_id=7)
    for someone in (8, None):
        assert (
            refusal(
                lambda someone=someone: links.verify(
                    SECRET, token, Purpose.confirm_address, NOW, subject_id=someone
                )
            )
            == Refusal.other_person
        )


def test_a_link_that_acts_is_spent_once(engine: Engine) -> None:
    token = acting(engine)
    [stored] = nonces(engine)
    # The database holds a hash of the nonce, never the nonce the link carries.
    link = links.read(SECRET, token, Purpose.confirm_request)
    assert link.nonce and stored.id != link.nonce and link.nonce not in stored.id
    with session_scope(engine) as db:
        links.spend(db, link, NOW)
    with session_scope(engine) as db:
        assert links.spent(db, link)
        assert refusal(lambda: links.spend(db, link, NOW)) == Refusal.used


def test_a_spend_rolled_back_with_its_action_leaves_the_link_usable(engine: Engine) -> None:
    link = links.read(SECRET, acting(engine), Purpose.confirm_request)
    with pytest.raises(RuntimeError), session_scope(engine) as db:
        links.spend(db, link, NOW)
        raise RuntimeError("the action failed")
    with session_scope(engine) as db:
        assert not links.spent(db, link)
        links.spend(db, link, NOW)


def test_a_nonce_of_another_object_or_never_stored_is_refused(engine: Engine) -> None:
    link = links.read(SECRET, acting(engine, object_id=5), Purpose.confirm_request)
    moved = Link(link.purpose, "6", link.expires_at, nonce=link.nonce)
    invented = Link(link.purpose, "5", link.expires_at, nonce="not-a-nonce-of-ours")
    with session_scope(engine) as db:
        assert refusal(lambda: links.spend(db, moved, NOW)) == Refusal.invalid
        assert refusal(lambda: links.spend(db, invented, NOW)) == Refusal.invalid
        assert not links.spent(db, link)


@pytest.mark.real_clock
def test_two_spends_at_once_act_once(engine: Engine) -> None:
    """Two transactions spending the same link: one commits, the other is refused as used."""
    link = links.read(SECRET, acting(engine), Purpose.confirm_request)
    outcomes: list[str] = []
    barrier = threading.Barrier(2, timeout=10)

    def spend() -> None:
        try:
            with session_scope(engine) as db:
                barrier.wait()
                links.spend(db, link, NOW)
            outcomes.append("spent")
        except LinkRefused as refused:
            outcomes.append(str(refused.reason))
        except Exception as exc:  # SQLite: the second writer may find the database locked
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=spend) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes.count("spent") == 1
    [stored] = nonces(engine)
    assert stored.spent_at is not None


def test_expired_nonces_are_purged(engine: Engine) -> None:
    acting(engine, object_id=1, expires_at=NOW + timedelta(hours=1))
    acting(engine, object_id=2, expires_at=LATER)
    with session_scope(engine) as db:
        assert links.purge(db, NOW + timedelta(hours=2)) == 1
    assert [n.object_id for n in nonces(engine)] == ["2"]


def test_only_an_acting_link_gets_a_nonce(engine: Engine) -> None:
    link = links.issue(None, Purpose.follow_request, 9, expires_at=LATER, now=NOW)
    assert link.nonce is None
    with pytest.raises(ValueError, match="single-use"):
        links.issue(None, Purpose.confirm_address, 9, expires_at=LATER, now=NOW)
