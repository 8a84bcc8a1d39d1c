"""Every module that defines the portal's own tables, imported so that SQLModel.metadata is whole.

Alembic (alembic/env.py) and the tests read the metadata through this module; a new module with
tables is added here, and gets its Alembic revision.
"""

from __future__ import annotations

from sqlmodel import SQLModel

import portal.api_tokens
import portal.audit
import portal.block_list
import portal.consent
import portal.exports.models
import portal.jobs
import portal.models
import portal.outbox
import portal.washing
import portal.workflows.records
import portal.workflows.requests  # noqa: F401

metadata = SQLModel.metadata
