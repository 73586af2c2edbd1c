"""Errors of dataset and file fetching; every message names the URI, archive member or folder."""

from __future__ import annotations


class FetchError(RuntimeError):
    """A source that cannot be fetched or does not hold a usable dataset."""


class TransientFetchError(FetchError):
    """A failure worth retrying (connection reset, 5xx, truncated body)."""


class UnsafeArchiveError(FetchError):
    """An archive member would land outside the target folder, or is a link/device."""
