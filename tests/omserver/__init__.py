"""A stand-in for OpenMetadata's REST API, for the metadata-rest sink's tests and benchmark."""

from .server import OMServer

__all__ = ["OMServer"]
