"""Exports of a person's data (JSON with a published schema, CSV, PDF).

Built by the exports issue on top of the data map's collector; nothing lives here yet.
"""
