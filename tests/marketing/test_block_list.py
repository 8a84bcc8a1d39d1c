"""The block list: normalised keys, staff entries with audit, external registers, the deceased."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from pathlib import Path

import phonenumbers
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from portal.audit import AuditEntry
from portal.datamap import load_datamap
from portal.db import make_engine, session_scope
from portal.demo import DATAMAP_PATH, EDGE_CASES_BY_KEY
from portal.demo.seed import seed
from portal.marketing import block_list, registers
from portal.marketing.block_list import BlockEntry, BlockRefused, Channel, Kind, NewEntry, Reason
from portal.models import StaffMember
from portal.phone_numbers import _fast, _slow, normalise_phone, phone_key
from tests.conftest import DEMO_TODAY

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def add_staff(engine: Engine) -> int:
    with session_scope(engine) as db:
        member = StaffMember(issuer="test", sub="agent", name="Agent")
        db.add(member)
        db.flush()
        return member.id


# --- normalising ---------------------------------------------------------------------------------


@pytest.mark.parametrize("written", ["+47 912 34 567", "0047 91234567", "91234567", "912-34-567"])
def test_the_ways_of_writing_a_norwegian_number_are_one_number(written: str) -> None:
    assert normalise_phone(written, "NO") == "+4791234567"


def test_a_swedish_number_with_its_trunk_prefix() -> None:
    assert normalise_phone("070-123 45 67", "SE") == "+46701234567"
    assert normalise_phone("+46 70 123 45 67", "NO") == "+46701234567"


@pytest.mark.parametrize("written", ["abc", "12", "", "+47 12"])
def test_what_is_not_a_phone_number(written: str) -> None:
    assert normalise_phone(written, "NO") is None


def test_the_fast_path_agrees_with_phonenumbers() -> None:
    """Every number the fast path takes, phonenumbers would have written the same way."""
    rng = random.Random(7)
    codes = {"NO": "47", "SE": "46", "DK": "45", "FI": "358"}
    taken = 0
    for _ in range(20000):
        region = rng.choice(list(codes))
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(5, 11)))
        prefix = rng.choice(["+", "00", "", "0", f"+{codes[region]}", f"00{codes[region]}"])
        fast = _fast(prefix + digits, region)
        if fast is not None:
            taken += 1
            number = phonenumbers.parse(prefix + digits, region)
            assert fast == _slow(prefix + digits, region)
            assert phonenumbers.is_possible_number(number)
    assert taken > 2000  # the fast path is used, not only the slow one


def test_three_ways_of_writing_one_number_match_one_entry(engine: Engine) -> None:
    staff_id = add_staff(engine)
    with session_scope(engine) as db:
        block_list.add_staff_entry(
            db,
            kind="phone",
            value="+47 912 34 567",
            channel="phone",
            note="Asked not to be called",
            staff_id=staff_id,
            region="NO",
            now=NOW,
        )
    written = ["+47 912 34 567", "0047 91234567", "91234567"]
    keys = {block_list.normalise(Kind.phone, w, "NO") for w in written}
    assert keys == {"+4791234567"}
    with session_scope(engine) as db:
        found = block_list.lookup(db, Kind.phone, keys, channel="phone", now=NOW)
        (entry,) = db.exec(select(BlockEntry)).all()
    assert [m.label for m in found["+4791234567"]] == ["reserved:phone"]
    assert entry.value == "+4791234567"


# --- staff ---------------------------------------------------------------------------------------


def test_staff_add_and_remove_an_entry_with_reasons_and_every_change_is_logged(
    engine: Engine,
) -> None:
    staff_id = add_staff(engine)
    with session_scope(engine) as db:
        entry = block_list.add_staff_entry(
            db,
            kind="email",
            value=" Ola@Example.COM ",
            channel="email",
            note="Caller asked",
            staff_id=staff_id,
            region="NO",
            now=NOW,
        )
        entry_id = entry.id
    with session_scope(engine) as db:
        assert block_list.lookup(db, Kind.email, ["ola@example.com"], channel="email", now=NOW)
        block_list.remove_staff_entry(
            db, entry_id, reason="Added by mistake", staff_id=staff_id, now=NOW
        )
    with session_scope(engine) as db:
        assert (
            block_list.lookup(db, Kind.email, ["ola@example.com"], channel="email", now=NOW) == {}
        )
        entry = db.get(BlockEntry, entry_id)
        log = db.exec(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert (entry.removed_by, entry.removal_reason) == (staff_id, "Added by mistake")
    assert [(e.action, e.reason) for e in log] == [
        ("block_list.add", "Caller asked"),
        ("block_list.remove", "Added by mistake"),
    ]
    assert all("ola@example.com" not in str(e.details) for e in log)  # no personal data


@pytest.mark.parametrize(
    ("kind", "value", "channel", "note"),
    [
        ("phone", "not a number", "phone", "why"),
        ("email", "no-at-sign", "email", "why"),
        ("national_id", "12345678901", "all", "why"),
        ("phone", "91234567", "fax", "why"),
        ("phone", "91234567", "phone", "  "),
        ("shoe_size", "42", "phone", "why"),
    ],
)
def test_a_bad_staff_entry_is_refused_and_changes_nothing(
    engine: Engine, english: None, kind: str, value: str, channel: str, note: str
) -> None:
    staff_id = add_staff(engine)
    with session_scope(engine) as db, pytest.raises(BlockRefused):
        block_list.add_staff_entry(
            db,
            kind=kind,
            value=value,
            channel=channel,
            note=note,
            staff_id=staff_id,
            region="NO",
            now=NOW,
        )
    with session_scope(engine) as db:
        assert db.exec(select(BlockEntry)).first() is None
        assert db.exec(select(AuditEntry)).first() is None


def test_staff_cannot_remove_a_persons_or_a_registers_entry(engine: Engine) -> None:
    staff_id = add_staff(engine)
    with session_scope(engine) as db:
        block_list.replace_source(
            db,
            "nix",
            [NewEntry(Kind.phone, "+46701234567", Reason.external_register, Channel.phone)],
            now=NOW,
        )
        entry_id = db.exec(select(BlockEntry.id)).one()
        with pytest.raises(BlockRefused):
            block_list.remove_staff_entry(db, entry_id, reason="x", staff_id=staff_id, now=NOW)


# --- external registers --------------------------------------------------------------------------


def test_a_register_import_replaces_that_registers_entries_only(
    engine: Engine, tmp_path: Path
) -> None:
    staff_id = add_staff(engine)
    with session_scope(engine) as db:
        block_list.add_staff_entry(
            db,
            kind="phone",
            value="91234567",
            channel="phone",
            note="x",
            staff_id=staff_id,
            region="NO",
            now=NOW,
        )
    first = tmp_path / "first.txt"
    first.write_text("91234567\n+47 912 34 568\nnot a number\n\n")
    second = tmp_path / "second.csv"
    second.write_text("navn;telefon\nKari;91234569\nOla;912 34 569\n")
    with session_scope(engine) as db:
        result = registers.import_register(
            db, "reservasjonsregisteret", first, region="NO", source_date=date(2026, 11, 1), now=NOW
        )
    assert (result.imported, result.bad_lines) == (2, [3])
    with session_scope(engine) as db:
        registers.import_register(
            db, "reservasjonsregisteret", second, region="NO", source_date=None, now=NOW
        )
        found = block_list.lookup(
            db,
            Kind.phone,
            ["+4791234567", "+4791234568", "+4791234569"],
            channel="phone",
            now=NOW,
        )
    assert {value: [m.label for m in ms] for value, ms in found.items()} == {
        "+4791234567": ["reserved:phone"],  # staff's entry stays
        "+4791234569": ["external_register:reservasjonsregisteret"],  # once, not twice
    }
    assert found["+4791234569"][0].source_date == NOW.date()


def test_a_register_file_without_numbers_keeps_the_old_entries(
    engine: Engine, tmp_path: Path
) -> None:
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("91234567\n")
    bad.write_text("hello\nworld\n")
    with session_scope(engine) as db:
        registers.import_register(db, "nix", good, region="NO", source_date=None, now=NOW)
    with pytest.raises(registers.RegisterError), session_scope(engine) as db:
        registers.import_register(db, "nix", bad, region="NO", source_date=None, now=NOW)
    with pytest.raises(registers.RegisterError):
        registers.check_source_name("staff")
    with session_scope(engine) as db:
        assert block_list.source_counts(db) == {"nix": 1}


# --- the deceased --------------------------------------------------------------------------------


def test_the_deceased_are_blocked_on_every_channel(engine: Engine, tmp_path: Path) -> None:
    company = make_engine(f"sqlite:///{tmp_path / 'company.db'}")
    seed(company, 3, today=DEMO_TODAY)
    datamap = load_datamap(DATAMAP_PATH)
    sources = dict.fromkeys(datamap.sources, company)
    deceased = EDGE_CASES_BY_KEY["deceased"]
    try:
        with session_scope(engine) as db:
            count = registers.sync_deceased(db, datamap, sources, region="NO", now=NOW)
            again = registers.sync_deceased(db, datamap, sources, region="NO", now=NOW)
            found = block_list.lookup(
                db, Kind.national_id, [deceased.national_id], channel="sms", now=NOW
            )
            phones = block_list.lookup(db, Kind.phone, ["+4791000004"], channel="post", now=NOW)
            kari = block_list.lookup(db, Kind.phone, ["+4791000001"], channel="phone", now=NOW)
            total = len(db.exec(select(BlockEntry)).all())
    finally:
        company.dispose()
    assert count == again == total >= 3  # replaced, not added to
    assert [m.label for m in found[deceased.national_id]] == ["deceased"]
    assert [m.label for m in phones["+4791000004"]] == ["deceased"]
    assert kari == {}


def test_an_entry_on_the_block_list_already_is_not_added_twice(engine: Engine) -> None:
    staff_id = add_staff(engine)

    def add(value: str, channel: str) -> None:
        with session_scope(engine) as db:
            block_list.add_staff_entry(
                db,
                kind="phone",
                value=value,
                channel=channel,
                note="Caller asked",
                staff_id=staff_id,
                region="NO",
                now=NOW,
            )

    add("+47 912 34 567", "all")
    for value, channel in (("91234567", "phone"), ("0047 912 34 567", "all")):
        with pytest.raises(BlockRefused, match="allerede på sperrelisten"):  # nb: the default
            add(value, channel)
    add("+47 912 34 568", "sms")
    add("+47 912 34 568", "phone")  # another channel: a new entry
    with session_scope(engine) as db:
        entries = db.exec(select(BlockEntry).where(BlockEntry.source == "staff")).all()
        assert sorted((e.value, e.channel) for e in entries) == [
            ("+4791234567", "all"),
            ("+4791234568", "phone"),
            ("+4791234568", "sms"),
        ]


def test_a_callers_reason_longer_than_the_bound_is_refused(engine: Engine) -> None:
    staff_id = add_staff(engine)
    with session_scope(engine) as db, pytest.raises(BlockRefused, match="2000"):
        block_list.add_staff_entry(
            db,
            kind="phone",
            value="+47 912 34 567",
            channel="all",
            note="x" * 2001,
            staff_id=staff_id,
            region="NO",
            now=NOW,
        )
    with session_scope(engine) as db:
        assert db.exec(select(BlockEntry).where(BlockEntry.source == "staff")).all() == []


def test_the_whole_list_loaded_at_once_answers_as_looking_each_value_up(
    monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    """``blocking`` reads each group's values joined into one string: canonical numbers, values
    phone_key reads only one by one (a slice with them) or not at all, and a group whose values
    hold the separator (read row by row) all come out as ``lookup`` answers them."""
    monkeypatch.setattr(block_list, "SLICE", 30)  # several slices, the odd values in some
    canonical = [f"+479{i:07d}" for i in range(0, 40, 3)]
    odd = ["+4791234567", "+47 912", "4791234568", "+0123", "+" + "9" * 20, ""]
    with session_scope(engine) as db:
        entries = (
            NewEntry(Kind.phone, value, Reason.external_register, Channel.phone)
            for value in [*canonical, *odd]
        )
        block_list.replace_source(db, "nix", entries, now=NOW)
        both = [canonical[0], "+47,90000003", "+4790000099"]
        block_list.replace_source(
            db,
            "reservasjonsregisteret",
            (NewEntry(Kind.phone, v, Reason.external_register, Channel.all) for v in both),
            now=NOW,
        )
    with session_scope(engine) as db:
        loaded = block_list.blocking(db, Kind.phone, channel=Channel.phone, now=NOW)
        values = {*canonical, *odd, *both}
        found = block_list.lookup(db, Kind.phone, values, channel=Channel.phone, now=NOW)
    expected = {}
    for value, matches in found.items():
        key = phone_key(value)
        if key is not None:
            expected[key] = block_list.labels_of(matches)
    assert loaded == expected
    assert loaded[90000000 + 47 * 10**8] == (
        "external_register:nix",
        "external_register:reservasjonsregisteret",
    )
    assert 4791234568 not in loaded and 99999999999999999999 in loaded
