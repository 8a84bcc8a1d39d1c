"""The words of a washed file's reason column, in the language of the staff member who washed
it. The code column beside it keeps the stable machine codes (``reserved:phone``,
``consent_withdrawn:newsletter``) for programs; the words are for the people reading the file."""

from __future__ import annotations

from collections.abc import Mapping

from portal.i18n import Translator
from portal.marketing.block_list import Channel, Reason


class ReasonWords:
    """Turns a match's code into words, e.g. ``reserved:phone`` into "reservert mot
    telefonsalg" in Norwegian. One per wash: a file of a million rows has a handful of codes,
    so each is worded once. ``topics`` names the consent purposes in the same language."""

    def __init__(self, language: str, topics: Mapping[str, str] | None = None) -> None:
        self.t = Translator(language)
        self.topics = dict(topics or {})
        self._done: dict[str, str] = {}

    def __call__(self, code: str) -> str:
        words = self._done.get(code)
        if words is None:
            words = self._done[code] = self._word(code)
        return words

    def _word(self, code: str) -> str:
        t = self.t
        reason, _sep, detail = code.partition(":")
        if reason == Reason.reserved:
            channel = {
                Channel.phone: t.gettext("reserved against phone sales"),
                Channel.sms: t.gettext("reserved against text messages"),
                Channel.email: t.gettext("reserved against marketing e-mail"),
                Channel.post: t.gettext("reserved against marketing letters"),
                Channel.all: t.gettext("reserved against all marketing"),
            }
            return channel.get(detail, t.gettext("reserved"))
        if reason == Reason.external_register:
            return t.gettext("in an external register (%(register)s)", register=detail)
        if reason in (Reason.consent_withdrawn, Reason.consent_expired):
            topic = self.topics.get(detail, detail)
            if reason == Reason.consent_withdrawn:
                return t.gettext("consent withdrawn (%(purpose)s)", purpose=topic)
            return t.gettext("consent expired (%(purpose)s)", purpose=topic)
        if reason == Reason.objected:
            return t.gettext("objected to direct marketing")
        if reason == Reason.deceased:
            return t.gettext("deceased")
        return code  # a code this version does not know: the code itself, never nothing

    def row(self, codes: list[str]) -> str:
        return "; ".join(self(code) for code in codes)
