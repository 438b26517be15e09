"""Thin shim so that ``python cli.py ...`` behaves like the ``spinefit`` console script."""

from spinefit.cli import main

if __name__ == "__main__":
    main()
