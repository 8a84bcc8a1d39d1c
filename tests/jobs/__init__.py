"""Tests of portal.jobs: the job queue, the worker and the outbox."""
