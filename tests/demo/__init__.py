"""Tests of portal.demo: the demo company."""
