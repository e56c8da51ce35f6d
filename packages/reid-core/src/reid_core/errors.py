"""Exceptions raised by reid_core. Each one says what was asked, what exists and what to do next."""

from __future__ import annotations


class ReidError(Exception):
    """Base class of every error reid_core raises on purpose."""


class UnknownModelError(ReidError, LookupError):
    """A model name that no installed family registers."""

    def __str__(self) -> str:  # LookupError would quote the message like a key
        return str(self.args[0]) if self.args else ""


class FamilyNotInstalledError(UnknownModelError):
    """A model name that belongs to a family whose package is not installed."""


class RegistryError(ReidError):
    """Two installed packages register the same model name, or a family is malformed."""


class CheckpointError(ReidError):
    """A checkpoint that cannot be read, or whose keys do not fit the model."""


class WeightsError(ReidError):
    """No catalogued weights for the request, or they cannot be fetched or verified."""


class ChecksumError(WeightsError):
    """A weights file whose sha256 does not match the catalog or the checksum recorded at download."""


class DatasetError(ReidError):
    """A dataset folder or file that does not have the expected layout."""
