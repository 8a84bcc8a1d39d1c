"""Tests of portal.views: page content."""
