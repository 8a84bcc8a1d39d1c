"""Every module that defines the portal's own tables, imported so that SQLModel.metadata is whole.

Alembic (alembic/env.py) and the tests read the metadata through this module; a new module with
tables is added here, and gets its Alembic revision.
"""

from __future__ import annotations

from sqlmodel import SQLModel

import portal.audit
import portal.audit.chain
import portal.exports.models
import portal.identity.addresses
import portal.jobs.outbox
import portal.jobs.queue
import portal.links
import portal.marketing.api_tokens
import portal.marketing.block_list
import portal.marketing.consent
import portal.marketing.washing
import portal.models
import portal.ratelimit
import portal.workflows.contacts
import portal.workflows.email_requests
import portal.workflows.notes
import portal.workflows.recipients
import portal.workflows.records
import portal.workflows.requests  # noqa: F401

metadata = SQLModel.metadata
