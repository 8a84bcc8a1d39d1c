"""What erasure can do to each mapped table, read from the map alone (no database).

The live check (``schema_check.py``) asks these questions of every table, so that a map it
accepts can always be carried out: which rows may be deleted, and by what; which columns may be
given a pseudonym; and whether rows that point at a deleted row may outlive it. The answers
follow the planner and the executor (``workflows/erasure.py``, ``workflows/erasure_run.py``);
``tests/datamap/test_effects.py`` holds them to what the planner does with the demo company.

* **Deleted rows.** An erasure deletes a row when its table's erasure is ``delete_row`` or one of
  its fields says ``delete_row`` (also when a hold that kept the row ends: the deferred erasure
  plans it again). The retention sweep deletes a row when the retention rule that binds it ends
  in ``delete_row``.
* **Pseudonyms.** A field whose erasure is ``pseudonymise`` gets one; so do the identifier columns
  (but the key) of a row kept to a date, i.e. under a hold with a period (its own, or another
  table's that ``covers`` it); and an anonymised row's identifier columns are emptied, which a
  NOT NULL column can only be by a pseudonym.
* **Rows that outlive the row they point at.** See ``outlives``.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.datamap.model import DataMap, HoldRef, RetentionRef
from portal.datamap.retention import applies

# A pseudonym is this prefix and a keyed hash (64 hexadecimal digits), cut to its column; the
# prefix marks a value as done, so a second run never hashes a hash. A column must hold at least
# the prefix and 8 digits: fewer would let too many people share a pseudonym.
PREFIX = "ps:"
MIN_PSEUDONYM = len(PREFIX) + 8


@dataclass(frozen=True)
class Deletion:
    """One way rows of a table are deleted: by an erasure, or by the sweep under a rule."""

    erasure: bool
    rule: str | None = None  # the sweep: the retention rule that ends in delete_row

    def describe(self, table: str) -> str:
        if self.erasure:
            return f"an erasure deletes rows of '{table}'"
        return f"the retention sweep deletes rows of '{table}' (retention rule '{self.rule}')"


def deletions(datamap: DataMap, name: str) -> list[Deletion]:
    """Every way rows of ``name`` may be deleted (empty: they never are)."""
    spec = datamap.tables[name]
    found: list[Deletion] = []
    if spec.erasure == "delete_row" or any(f.erasure == "delete_row" for f in spec.fields.values()):
        found.append(Deletion(erasure=True))
    for ref in spec.retention:
        rule = datamap.retention_rules.get(ref.rule)
        if rule is not None and applies(datamap, rule) and rule.then == "delete_row":
            found.append(Deletion(erasure=False, rule=ref.rule))
    return found


def dated_hold(datamap: DataMap, name: str) -> str | None:
    """A hold with a period that may keep rows of ``name`` (its own, or one that covers it):
    such rows are kept to a date, with their identifiers pseudonymised. None: no such hold."""
    for owner, spec in datamap.tables.items():
        for ref in spec.holds:
            if owner != name and name not in ref.covers:
                continue
            hold = datamap.holds.get(ref.hold)
            if hold is not None and hold.period is not None and applies(datamap, hold):
                return ref.hold
    return None


def anonymised(datamap: DataMap, name: str) -> bool:
    """Whether rows of ``name`` may be anonymised (the table's erasure, or a retention rule)."""
    spec = datamap.tables[name]
    if spec.erasure == "anonymise":
        return True
    return any(
        (rule := datamap.retention_rules.get(ref.rule)) is not None
        and applies(datamap, rule)
        and rule.then == "anonymise"
        for ref in spec.retention
    )


def pseudonym_columns(datamap: DataMap, name: str) -> dict[str, str]:
    """Column -> why erasure may write a pseudonym into it."""
    spec = datamap.tables[name]
    found = {
        column: "erasure 'pseudonymise' writes a pseudonym"
        for column, field in spec.fields.items()
        if field.erasure == "pseudonymise"
    }
    hold = dated_hold(datamap, name)
    if hold is not None:
        for link in spec.identifier_links:
            if link.column != spec.key:
                found.setdefault(
                    link.column,
                    f"rows kept under hold '{hold}' have their identifiers pseudonymised",
                )
    return found


def emptied_identifiers(datamap: DataMap, name: str) -> list[str]:
    """The identifier columns an anonymised row loses (a NOT NULL one gets a pseudonym)."""
    if not anonymised(datamap, name):
        return []
    spec = datamap.tables[name]
    return [link.column for link in spec.identifier_links if link.column in spec.fields]


# --- rows that outlive the row they point at ------------------------------------------------------


@dataclass(frozen=True)
class Outliving:
    """Why rows of a child table may outlive the parent row they point at, and the fix."""

    reason: str
    fix: str


def outlives(
    datamap: DataMap, child: str, column: str, parent: str, deletion: Deletion
) -> Outliving | None:
    """Whether rows of ``child`` (pointing at rows of ``parent`` by ``column``) may be kept after
    ``deletion`` deleted their parent row, and why; None when they always go first.

    * **keep**: an erasure deletes the parent, but the child's rows are not deleted (its
      erasure is ``anonymise``, or ``fields`` with no ``delete_row`` field);
    * **hold**: a hold of the child keeps its row, and nothing keeps the parent as long: the
      hold does not ``covers`` the parent, nor does the parent have the same hold from the
      same date;
    * **retention**: the sweep deletes the parent when its retention ends, and the child's
      rows are not certain to be swept by then: for each of the parent's rules the child
      needs the same rule from the same date, or its own retention must be matched by a hold
      that covers the parent (which then keeps the parent as long).
    """
    spec = datamap.tables[child]
    erased = any(item.erasure for item in deletions(datamap, child))
    if deletion.erasure and not erased:
        kept = "anonymised" if spec.erasure == "anonymise" else "kept (no field says delete_row)"
        return Outliving(
            f"an erasure leaves its rows {kept}",
            f"delete its rows too (erasure 'delete_row'), or make '{column}' nullable so that "
            f"the portal cuts the link first, or do not delete rows of '{parent}'",
        )
    for ref in spec.holds:
        hold = datamap.holds.get(ref.hold)
        if hold is None or not applies(datamap, hold) or parent in ref.covers:
            continue
        if _parent_has_hold(datamap, child, parent, ref):
            continue
        return Outliving(
            f"its rows may be kept under hold '{ref.hold}', which does not cover '{parent}'",
            f"add covers = [\"{parent}\"] to hold '{ref.hold}' of this table (the hold then "
            f"keeps the row of '{parent}' too), or make '{column}' nullable so that the "
            "portal cuts the link first",
        )
    if not deletion.erasure and not _swept_in_time(datamap, child, parent):
        return Outliving(
            f"its rows may be kept longer than the rows of '{parent}' (their retention does "
            f"not end with the retention of '{parent}')",
            f"give this table the retention rules of '{parent}' counting from '{parent}'s "
            f'dates (e.g. from = "{parent}.<column>"), or a hold with its own retention\'s '
            f"period that covers '{parent}', or make '{column}' nullable so that the portal "
            "cuts the link first",
        )
    return None


def _same_date(child: str, parent: str, child_from: str | None, parent_from: str | None) -> bool:
    """Whether a child's date column and a parent's name the same date."""
    if child_from is None or parent_from is None:
        return False
    if "." in parent_from:
        return child_from == parent_from
    return child_from == f"{parent}.{parent_from}"


def _unconditional(ref: RetentionRef | HoldRef) -> bool:
    return not (ref.when or ref.when_null or ref.when_not_null)


def _parent_has_hold(datamap: DataMap, child: str, parent: str, ref: HoldRef) -> bool:
    """The parent has the child's hold, unconditionally, from the same date: it is kept at
    least as long as the child is by it."""
    return any(
        other.hold == ref.hold
        and _unconditional(other)
        and _same_date(child, parent, ref.from_, other.from_)
        for other in datamap.tables[parent].holds
    )


def _swept_in_time(datamap: DataMap, child: str, parent: str) -> bool:
    """The child's rows are swept no later than the parent's, judged from the map."""
    spec = datamap.tables[child]
    own = [
        ref
        for ref in spec.retention
        if (rule := datamap.retention_rules.get(ref.rule)) is not None and applies(datamap, rule)
    ]
    # A hold that covers the parent with the same period and date as one of the child's own
    # unconditional rules keeps the parent until that rule (at the latest) sweeps the child.
    for ref in own:
        rule = datamap.retention_rules[ref.rule]
        if not _unconditional(ref):
            continue
        for hold_ref in spec.holds:
            hold = datamap.holds.get(hold_ref.hold)
            if (
                hold is not None
                and parent in hold_ref.covers
                and _unconditional(hold_ref)
                and hold.period == rule.period
                and hold.counts_from == rule.counts_from
                and hold_ref.from_ == ref.from_
            ):
                return True
    theirs = [
        ref
        for ref in datamap.tables[parent].retention
        if (rule := datamap.retention_rules.get(ref.rule)) is not None and applies(datamap, rule)
    ]
    return bool(own) and all(
        any(
            mine.rule == ref.rule
            and _unconditional(mine)
            and _same_date(child, parent, mine.from_, ref.from_)
            for mine in own
        )
        for ref in theirs
    )
