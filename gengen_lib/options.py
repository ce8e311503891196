"""Command-line options generated from a settings dataclass, and the options that give back a setting.

Every field of a :class:`~gengen_lib.runs.RunSettings` becomes ``--field-name`` with the
field's type, its default and its ``HELP`` line: a bool becomes ``--name / --no-name``, a
``Literal`` a choice, a tuple of floats that many numbers, a float a finite number >= 0, an int
a positive whole number (``seed``: 0 to 2**63 - 1). ``ALIASES`` add flags that set one field to one value.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Callable
from typing import Any

MAX_SEED = 2**63 - 1
MAX_COUNT = 1 << 16  # far beyond any width, epoch count or subset of the course: larger numbers are typing slips


def parse_number(text: str, kind: type, expected: str, allowed: Callable[[Any], bool], out_of_range: str):
    """``kind(text)`` (``int`` or ``float``) when it parses and ``allowed(value)``; else an argparse error.

    The errors read "must be <expected>, got 'text'" and ``out_of_range`` with ``{value}`` and
    ``{text}`` filled in (``{value:g}`` formats a float).
    """
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}") from None
    if not allowed(value):
        raise argparse.ArgumentTypeError(out_of_range.format(value=value, text=text))
    return value


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    return parse_number(text, int, "a positive integer", lambda v: v >= 1, "must be a positive integer, got {value}")


def count(text: str) -> int:
    """A positive whole number of a sensible size (a width, a number of epochs or images)."""
    value = positive_int(text)
    if value > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"{value} is far too large (at most {MAX_COUNT}; the course uses up to 1024 "
                                         "units per layer and 50,000 images)")  # fmt: skip
    return value


def seed(text: str) -> int:
    """A random seed: a whole number from 0 to 2**63 - 1."""
    return parse_number(text, int, "a whole number", lambda v: 0 <= v <= MAX_SEED,
                        "must be between 0 and 2**63 - 1, got {value}")  # fmt: skip


def non_negative_float(text: str) -> float:
    """A finite number >= 0: no float setting of the course (rates, margins, clips) is negative."""
    return parse_number(text, float, "a number", lambda v: math.isfinite(v) and v >= 0,
                        "must be a finite number of at least 0, got {text}")  # fmt: skip


def flag(name: str) -> str:
    """``learned_scale`` -> ``--learned-scale``."""
    return "--" + name.replace("_", "-")


def _field_types(settings_class: type) -> dict[str, object]:
    return typing.get_type_hints(settings_class)


def _scalar(kind) -> object:
    """``int | None`` -> ``int``; other types unchanged."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return args[0] if len(args) == 1 else kind
    return kind


def _help(settings_class: type, f: dataclasses.Field) -> str:
    notes = [f"default: {f.default}"] if f.default is not None else []
    if f.name in settings_class.QUICK:
        notes.append(f"--quick: {settings_class.QUICK[f.name]}")
    text = settings_class.HELP.get(f.name, "")
    return f"{text} ({'; '.join(notes)})" if notes else text


def add_settings_options(parser: argparse.ArgumentParser, settings_class: type) -> list[str]:
    """Add one option per field of ``settings_class`` (and its aliases), every default None.

    Returns the flags added, in field order. :func:`chosen_settings` reads them back.
    """
    types = _field_types(settings_class)
    added = []
    for f in dataclasses.fields(settings_class):
        kind = _scalar(types[f.name])
        name, options = flag(f.name), {"default": None, "dest": f.name, "help": _help(settings_class, f)}
        if kind is bool:
            parser.add_argument(name, action=argparse.BooleanOptionalAction, **options)
        elif typing.get_origin(kind) is typing.Literal:
            parser.add_argument(name, choices=typing.get_args(kind), **options)
        elif typing.get_origin(kind) is tuple:
            parser.add_argument(name, type=non_negative_float, nargs=len(typing.get_args(kind)), metavar="X", **options)
        elif kind is float:
            parser.add_argument(name, type=non_negative_float, metavar="X", **options)
        elif kind is int:
            parser.add_argument(name, type=seed if f.name == "seed" else count, metavar="N", **options)
        else:
            raise TypeError(f"{settings_class.__name__}.{f.name}: no command-line option for type {kind}")
        added.append(name)
    for alias, (target, value) in settings_class.ALIASES.items():
        parser.add_argument(flag(alias), action="store_const", const=value, dest=target,
                            help=settings_class.HELP.get(alias, f"{flag(target)} {value}"))  # fmt: skip
        added.append(flag(alias))
    return added


def chosen_settings(settings_class: type, args: argparse.Namespace, quick: bool):
    """The settings the command line asked for: the chapter's (or the quick ones) with the options given."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(settings_class)}
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if v is not None}
    return settings_class.for_mode(quick, **given)


def command_line(settings) -> str:
    """The options that turn the default settings of its class into ``settings`` (epochs aside)."""
    parts = []
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if f.name == "epochs" or value == f.default:
            continue
        if isinstance(value, bool):
            aliases = [a for a, target in type(settings).ALIASES.items() if target == (f.name, value)]
            parts.append(flag(aliases[0]) if aliases else flag(f.name) if value else "--no-" + flag(f.name)[2:])
        elif isinstance(value, tuple):
            parts.append(f"{flag(f.name)} {' '.join(str(v) for v in value)}")
        else:
            parts.append(f"{flag(f.name)} {value:g}" if isinstance(value, float) else f"{flag(f.name)} {value}")
    return " ".join(parts)
