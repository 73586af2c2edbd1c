"""Helpers and fixture plugins shared by the test folders (registered in tests/conftest.py)."""
