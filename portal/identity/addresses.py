"""E-mail addresses a signed-in person proves are theirs, by a link sent to the address.

"We may hold more under other addresses": the collector follows only identifiers found from the
person's national ID, and those proven otherwise (README, "Identity"). Here a person proves one
themselves:

1. ``claim_address``: signed in with BankID, they name an address; a single-use link to confirm
   it is e-mailed to that address (``confirm_address``; the message names the address only,
   never the person's subject, so that the link is not shown on their own pages: only the
   mailbox proves the address). Rate-limited per client and per address.
2. ``confirm_address``: the link, opened while signed in as the same person, spends its nonce
   in the transaction that makes the address one of their proven identifiers
   (``SubjectIdentifier``, assurance ``low``: proven by a link). From then on /me, exports and
   erasure follow it under the same rules as any other identifier: rows found only under an
   address that also appears on someone else's rows stay withheld.
3. ``withdraw_address``: the person can withdraw an address they proved (those staff linked are
   withdrawn by staff, who linked them with a reason).

One proven owner per address, as for identifiers staff link: an address another person has
proven is not added (the refusal does not say whose it is).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import UniqueConstraint, delete
from sqlmodel import Field, Session, SQLModel, col, select

from portal import links, ratelimit
from portal.audit import AuditActor, record
from portal.db import utcnow
from portal.i18n import gettext as _
from portal.identity.identifiers import IdentifierRefused, normalise_identifier
from portal.jobs.outbox import queue_message
from portal.models import Assurance, IdentifierKind, SubjectIdentifier
from portal.settings import Settings

MESSAGE_KIND = "confirm_address"
CONFIRM_PATH = "/me/addresses/confirm"
MAX_EMAIL = 320
# Claims waiting for their link at once, per person: a bound, not a rate.
MAX_OPEN_CLAIMS = 5


class AddressClaim(SQLModel, table=True):
    """An address a person has asked to prove, waiting for its link; removed when it is proven,
    withdrawn, or past its time."""

    __tablename__ = "address_claim"
    __table_args__ = (UniqueConstraint("subject_id", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(foreign_key="subject.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=MAX_EMAIL)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class AddressRefused(IdentifierRefused):
    """The claim or confirmation was refused; the message says why. Nothing changed."""


def claim_address(
    db: Session,
    *,
    subject_id: int,
    address: str,
    client: ratelimit.Client,
    language: str,
    now: datetime,
    settings: Settings,
) -> AddressClaim:
    """Ask to prove ``address``: a link to confirm it is e-mailed there. Asking again for the
    same address sends a new link (the old one works too, until one of them is used)."""
    email = normalise_identifier(IdentifierKind.email, address[: MAX_EMAIL + 1])
    if len(email) > MAX_EMAIL:
        raise AddressRefused(_("That is not an e-mail address."))
    if _proven(db, subject_id, email) is not None:
        raise AddressRefused(_("That address is already one of yours."))
    ratelimit.hit(
        db,
        ratelimit.CLAIM_ADDRESS,
        client=client,
        address_key=ratelimit.key_of(settings.secret_key, "address", email),
        limits=ratelimit.Limits.from_settings(settings),
        now=now,
    )
    expires = now + links.lifetime(settings, links.Purpose.confirm_address)
    claim = db.exec(
        select(AddressClaim).where(
            AddressClaim.subject_id == subject_id, AddressClaim.email == email
        )
    ).first()
    if claim is None:
        if len(open_claims(db, subject_id, now)) >= MAX_OPEN_CLAIMS:
            raise AddressRefused(
                _("Confirm or withdraw the addresses you have added before adding another.")
            )
        claim = AddressClaim(subject_id=subject_id, email=email, created_at=now, expires_at=expires)
    claim.expires_at = expires
    db.add(claim)
    db.flush()
    link = links.issue(
        db,
        links.Purpose.confirm_address,
        claim.id or 0,
        expires_at=expires,
        now=now,
        subject_id=subject_id,
        language=language,
    )
    url = links.absolute(settings.base_url, CONFIRM_PATH, links.sign(settings.secret_key, link))
    queue_message(
        db,
        MESSAGE_KIND,
        language=language,
        email=email,
        context={"confirm_url": url, "expires_at": expires.isoformat()},
        now=now,
    )
    return claim


def read_claim(
    db: Session, token: str, *, subject_id: int, now: datetime, settings: Settings
) -> AddressClaim:
    """The claim a link confirms, for the page that asks the person to press the button (a
    GET acts on nothing). LinkRefused as ``confirm_address`` would refuse it."""
    link = links.verify(
        settings.secret_key, token, links.Purpose.confirm_address, now, subject_id=subject_id
    )
    if links.spent(db, link):
        raise links.LinkRefused(links.Refusal.used, link)
    return _claim(db, link, subject_id)


def confirm_address(
    db: Session, token: str, *, subject_id: int, now: datetime, settings: Settings
) -> SubjectIdentifier:
    """Spend the link and make the address one of the person's proven identifiers, in one
    transaction. LinkRefused (nothing done) for a link not whole, not theirs, past its time or
    used; AddressRefused when another person has proven the address."""
    link = links.verify(
        settings.secret_key, token, links.Purpose.confirm_address, now, subject_id=subject_id
    )
    links.spend(db, link, now)
    claim = _claim(db, link, subject_id)
    taken = db.exec(
        select(SubjectIdentifier).where(
            SubjectIdentifier.kind == IdentifierKind.email,
            SubjectIdentifier.value == claim.email,
        )
    ).first()
    if taken is not None and taken.subject_id != subject_id:
        raise AddressRefused(
            _(
                "We cannot add this address to your data. If you think it should be, write to "
                "us and we will look at it with you."
            )
        )
    proven = taken or SubjectIdentifier(
        subject_id=subject_id,
        kind=IdentifierKind.email,
        value=claim.email,
        assurance=Assurance.low,
        created_at=now,
    )
    db.add(proven)
    db.delete(claim)
    db.flush()
    _audit(db, "identifier.prove", proven, subject_id, now)
    return proven


def _claim(db: Session, link: links.Link, subject_id: int) -> AddressClaim:
    try:
        claim = db.get(AddressClaim, int(link.object_id))
    except ValueError:
        claim = None
    if claim is None or claim.subject_id != subject_id:
        # Withdrawn, or removed after its time (a used link is told apart by its nonce first).
        raise links.LinkRefused(links.Refusal.expired, link)
    return claim


def withdraw_address(db: Session, *, subject_id: int, identifier_id: int, now: datetime) -> str:
    """Withdraw an address the person proved; returns it, for the message. AddressRefused for
    anything else (someone else's, or linked by staff)."""
    found = db.get(SubjectIdentifier, identifier_id)
    if (
        found is None
        or found.subject_id != subject_id
        or found.kind != IdentifierKind.email
        or found.assurance != Assurance.low
    ):
        raise AddressRefused(_("There is no such address among the ones you have added."))
    _audit(db, "identifier.withdraw", found, subject_id, now)
    db.delete(found)
    db.flush()
    return found.value


def withdraw_claim(db: Session, *, subject_id: int, claim_id: int) -> str:
    """Withdraw an address still waiting for its link: the link then does nothing."""
    claim = db.get(AddressClaim, claim_id)
    if claim is None or claim.subject_id != subject_id:
        raise AddressRefused(_("There is no such address among the ones you have added."))
    db.delete(claim)
    db.flush()
    return claim.email


@dataclass(frozen=True)
class Addresses:
    """A person's e-mail addresses as the addresses page shows them."""

    proven: tuple[SubjectIdentifier, ...]  # proven by a link (withdrawable) or linked by staff
    waiting: tuple[AddressClaim, ...]


def addresses_of(db: Session, subject_id: int, now: datetime) -> Addresses:
    proven = db.exec(
        select(SubjectIdentifier)
        .where(
            SubjectIdentifier.subject_id == subject_id,
            SubjectIdentifier.kind == IdentifierKind.email,
        )
        .order_by(col(SubjectIdentifier.created_at), col(SubjectIdentifier.id))
    ).all()
    return Addresses(tuple(proven), tuple(open_claims(db, subject_id, now)))


def open_claims(db: Session, subject_id: int, now: datetime) -> list[AddressClaim]:
    return list(
        db.exec(
            select(AddressClaim)
            .where(AddressClaim.subject_id == subject_id, col(AddressClaim.expires_at) > now)
            .order_by(col(AddressClaim.created_at), col(AddressClaim.id))
        )
    )


def remove_expired_claims(db: Session, now: datetime) -> int:
    result = db.execute(delete(AddressClaim).where(col(AddressClaim.expires_at) <= now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def forget_claims(db: Session, subject_id: int) -> None:
    """An erasure removes the addresses a person was proving, with their proven ones."""
    db.execute(delete(AddressClaim).where(col(AddressClaim.subject_id) == subject_id))


def _proven(db: Session, subject_id: int, email: str) -> SubjectIdentifier | None:
    return db.exec(
        select(SubjectIdentifier).where(
            SubjectIdentifier.subject_id == subject_id,
            SubjectIdentifier.kind == IdentifierKind.email,
            SubjectIdentifier.value == email,
        )
    ).first()


def _audit(
    db: Session, action: str, identifier: SubjectIdentifier, subject_id: int, now: datetime
) -> None:
    # The address stays out of the log: the kind and the identifier's id say which.
    record(
        db,
        actor=AuditActor.person,
        actor_id=subject_id,
        action=action,
        subject_id=subject_id,
        details={"kind": str(identifier.kind), "identifier_id": identifier.id},
        now=now,
    )
