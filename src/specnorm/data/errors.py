"""Errors of :mod:`specnorm.data`: each message names the file and says what to do."""

from __future__ import annotations


class DataError(RuntimeError):
    """A dataset could not be prepared or loaded."""


class ChecksumError(DataError):
    """A downloaded or user-provided file does not have the expected checksum."""


class SourceMissingError(DataError):
    """The raw dataset is not on disk and cannot (or may not) be downloaded."""


class StoreError(DataError):
    """A prepared array is missing, half-written, or disagrees with its manifest."""
