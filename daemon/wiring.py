"""Building each stage's tools from the config: the only place that maps config sections to
the plain constructor arguments of extractors/ and editor/, which never read the config."""

from __future__ import annotations

from dataclasses import fields

from memoird.daemon.config import Config


def _pick(cls, section) -> dict:
    """The keys of a config section that a dataclass of the same vocabulary accepts."""
    names = {f.name for f in fields(cls)}
    return {name: getattr(section, name) for name in names if hasattr(section, name)}


def build_fetcher(config: Config):
    from memoird.extractors.fetch import Fetcher, FetchPolicy

    return Fetcher(FetchPolicy(**_pick(FetchPolicy, config.feeds)))


def build_schedule(config: Config):
    from memoird.extractors.politeness import Schedule

    return Schedule(**_pick(Schedule, config.feeds))
