"""Tests of portal.identity: identity."""
