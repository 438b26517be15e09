"""``KEY=VALUE`` model options, as given to ``spinefit fit -o`` and in batch manifests."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from spinefit.errors import ConfigError


def parse_option_pairs(pairs: Iterable[str], where: str = "--option") -> dict[str, Any]:
    """Return ``{key: value}`` of ``KEY=VALUE`` strings.

    Values are read as JSON when they parse (numbers, ``true``, lists), else kept as text;
    dashes in keys become underscores.

    Raises
    ------
    ConfigError
        For a pair without ``=``; the message names `where`.
    """
    config: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"{where} takes KEY=VALUE, got '{pair}'")
        key, value = pair.split("=", 1)
        key = key.strip().replace("-", "_")
        try:
            config[key] = json.loads(value)
        except json.JSONDecodeError:
            config[key] = value
    return config
