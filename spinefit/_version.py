"""The installed spinefit version."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spinefit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
