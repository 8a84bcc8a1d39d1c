"""Tests of portal.mock_idp: the mock BankID provider."""
