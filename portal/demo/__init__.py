"""The demo company: its schema (six sources), seeding, edge-case people and its data map."""

from __future__ import annotations

from pathlib import Path

from portal.demo.people import EDGE_CASES, EDGE_CASES_BY_KEY, EdgeCase

DATAMAP_PATH = Path(__file__).resolve().parent / "datamap.toml"

__all__ = ["DATAMAP_PATH", "EDGE_CASES", "EDGE_CASES_BY_KEY", "EdgeCase"]
