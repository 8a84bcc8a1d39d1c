"""The data map: where the company's personal data lives, what it is, and whose it is.

See docs/datamap.md for the file format and the identity rule.
"""

from __future__ import annotations

from portal.datamap.collect import Collection, FieldValue, Row, TableStream, collect, stream
from portal.datamap.identity import Resolution, resolve
from portal.datamap.loader import load_datamap, parse_datamap
from portal.datamap.model import DataMap, FieldSpec, Period, TableSpec, Text
from portal.datamap.problems import DataMapError
from portal.datamap.schema_check import check_against_sources
from portal.datamap.sources import create_engines, dispose_engines, resolve_url

__all__ = [
    "Collection",
    "DataMap",
    "DataMapError",
    "FieldSpec",
    "FieldValue",
    "Period",
    "Resolution",
    "Row",
    "TableSpec",
    "TableStream",
    "Text",
    "check_against_sources",
    "collect",
    "create_engines",
    "dispose_engines",
    "load_datamap",
    "parse_datamap",
    "resolve",
    "resolve_url",
    "stream",
]
