"""Tests of portal.datamap: the data map."""
