"""What the landing page shows before anyone signs in: whose portal this is, and the rights."""

from __future__ import annotations

from dataclasses import dataclass

from portal.datamap.model import DataMap


@dataclass(frozen=True)
class LandingPage:
    """The company that runs the portal (the controller, from the data map) names itself
    before a person signs in, and says how to reach it without BankID."""

    controller_name: str
    organisation_number: str
    contact: str
    session_expired: bool


def landing_page(datamap: DataMap, *, session_expired: bool) -> LandingPage:
    controller = datamap.controller
    return LandingPage(
        controller_name=controller.name,
        organisation_number=controller.organisation_number,
        contact=controller.contact,
        session_expired=session_expired,
    )
