"""The demo company: its schema (six sources), seeding, edge-case people and its data map."""

from __future__ import annotations

from pathlib import Path

from portal.demo.people import EDGE_CASES, EDGE_CASES_BY_KEY, EdgeCase

DATAMAP_PATH = Path(__file__).resolve().parent / "datamap.toml"
# The demo company's description of its security measures (SECURITY_MEASURES_FILE's default).
SECURITY_MEASURES_PATH = Path(__file__).resolve().parent / "security_measures.toml"

__all__ = ["DATAMAP_PATH", "EDGE_CASES", "EDGE_CASES_BY_KEY", "SECURITY_MEASURES_PATH", "EdgeCase"]
