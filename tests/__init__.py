"""Test suite: every test runs against local fakes on loopback."""
