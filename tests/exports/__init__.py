"""Tests of portal.exports: exports."""
