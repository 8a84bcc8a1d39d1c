"""Tests of portal.marketing: consent, the block list, washing and the dialer API."""
