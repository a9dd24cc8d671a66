"""Command-line options from a training config dataclass: one ``--option`` per field, its default the field's."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

__all__ = ["add_config_arguments", "config_from_namespace"]


def _flag_value(text: str) -> bool:
    return text.lower() in ("1", "true", "yes")


def add_config_arguments(parser: argparse.ArgumentParser, config: type, helps: dict[str, str], required: tuple[str, ...]) -> None:
    """Add one --option per field of the dataclass ``config`` (``required`` ones without a default)."""
    for f in fields(config):
        if f.name == "extra":
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = {"int": int, "float": float, "str": str, "bool": _flag_value}.get(str(f.type), str)
        need = f.name in required
        parser.add_argument(flag, type=kind, required=need, default=None if need else f.default, help=helps.get(f.name))


def config_from_namespace(config: type, args: argparse.Namespace) -> Any:
    """The dataclass ``config`` from parsed arguments."""
    return config(**{f.name: getattr(args, f.name) for f in fields(config) if f.name != "extra"})
