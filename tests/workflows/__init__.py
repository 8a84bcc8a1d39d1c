"""Tests of portal.workflows: requests, erasure and letters."""
