"""Allow ``python -m spinefit``."""

from spinefit.cli import main

main()
