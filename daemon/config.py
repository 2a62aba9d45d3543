"""memoird configuration: one TOML file, environment overrides, checked at start-up.

Sources, lowest to highest precedence:

1. the defaults declared below (each setting documents itself);
2. ``$STATE_DIRECTORY`` (set by systemd's ``StateDirectory=memoird``) for
   ``daemon.data_dir`` only, so the packaged unit puts state in ``/var/lib/memoird``
   while a developer's default stays ``./.memoird`` (relative to the working directory);
3. the TOML file (``memoird.toml``; ``deploy/memoird.toml`` documents every key);
4. environment variables ``MEMOIRD_<SECTION>_<KEY>``, e.g. ``MEMOIRD_FEEDS_MAX_BYTES=1048576``,
   parsed to the setting's type (lists as a TOML array ``["a", "b"]`` or ``a,b``).

Anything wrong fails at start-up, before a feed is fetched or a weight is touched:
an unknown section or key (with a "did you mean"), a wrong type, or an impossible value.
The ConfigError names the key and where the value came from (the file or the variable).

Adding a setting is one line in its section dataclass: ``name: type = setting(default,
"doc", min=..., choices=...)``. The example file is rendered from these declarations
(``python -m memoird.daemon.config > deploy/memoird.toml``), and a test keeps it current.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import sys
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from memoird.editor.builtin_models import BUILTIN_MODELS, DEFAULT_MODEL
from memoird.extractors.fetch import FetchPolicy
from memoird.extractors.politeness import Schedule

ENV_PREFIX = "MEMOIRD_"


class ConfigError(ValueError):
    """A configuration problem; the message names the key and the file or variable."""

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None):
        self.key = key
        self.source = source
        super().__init__(message)


# ---------------------------------------------------------------- declaring settings

Check = Callable[[Any], "str | None"]


def setting(default: Any, doc: str, *, choices: tuple[Any, ...] = (), min: float | None = None,
            max: float | None = None, gt: float | None = None, check: Check | None = None):
    """A config key: its default, one line of documentation, and its constraints.

    ``min``/``max`` are inclusive bounds, ``gt`` an exclusive lower bound, ``check`` a
    function returning a problem description (or None) for rules bounds cannot express.
    """
    return field(default=default, metadata={"doc": doc, "choices": choices, "min": min,
                                            "max": max, "gt": gt, "check": check})


def _is_cidr(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"{value!r} is not an IP network (CIDR such as 127.0.0.0/8 or ::1/128)"
    return None


def _networks(values: tuple[str, ...]) -> str | None:
    return next((p for p in map(_is_cidr, values) if p), None)


def _model_base(value: str) -> str | None:
    if value in BUILTIN_MODELS or Path(value).expanduser().is_dir():
        return None
    return (f"{value!r} is neither a built-in model ({', '.join(BUILTIN_MODELS)}) "
            "nor an existing Hugging Face model folder")


def _device(value: str) -> str | None:
    if value in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", value):
        return None
    return f"{value!r} is not a device (auto, cpu, cuda or cuda:N)"


def _crontab(value: str) -> str | None:
    if not value:
        return None
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value)
    except ValueError as exc:
        return f"{value!r} is not a crontab expression ({exc})"
    return None


def _http_url(value: str) -> str | None:
    """An http(s) base URL with a host, or empty (unset)."""
    if not value:
        return None
    from urllib.parse import urlsplit

    wanted = "must be an http(s) URL with a host, such as http://127.0.0.1:8000/v1"
    if any(c.isspace() for c in value):
        return f"{wanted} (this one contains spaces)"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (a port that is not a number raises ValueError)
    except ValueError as exc:
        return f"{wanted} ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return wanted
    return None


def _not_blank(value: str) -> str | None:
    return "must not be empty" if not value.strip() else None


def _env_name(value: str) -> str | None:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        return None
    return f"{value!r} is not an environment variable name"


# ---------------------------------------------------------------- sections


@dataclass(frozen=True)
class DaemonSection:
    """Process-wide settings."""

    data_dir: Path = setting(Path(".memoird"), "state folder: database, checkpoints, memory "
                             "(default ./.memoird; $STATE_DIRECTORY under systemd)")
    log_level: str = setting("info", "log level", choices=(
        "debug", "info", "warning", "error", "critical"))
    log_format: str = setting("json", "log lines as JSON objects or plain text",
                              choices=("json", "text"))
    threads: int = setting(0, "torch CPU threads of `memoird run`: requests and the "
                           "background reading run side by side, each with this many; 0 = "
                           "half the CPU cores", min=0)


@dataclass(frozen=True)
class ModelSection:
    """The base model the memory edits sit on."""

    base: str = setting(DEFAULT_MODEL, f"built-in alias ({', '.join(BUILTIN_MODELS)}) "
                        "or the path of a Hugging Face model folder", check=_model_base)
    device: str = setting("auto", "auto (CUDA when present), cpu, cuda or cuda:N",
                          check=_device)
    dtype: str = setting("float32", "weight dtype", choices=("float32", "bfloat16", "float16"))


@dataclass(frozen=True)
class MemorySection:
    """The MEMOIR residual memory."""

    layer: int = setting(-1, "FFN layer to edit; -1 picks the benchmarked layer for the model",
                         min=-1)
    k: int = setting(0, "TopHash mask size (active columns per edit); 0 picks it per model",
                     min=0)
    tau: float = setting(0.4, "routing threshold: mask overlap at or above it uses the memory",
                         min=0.0, max=1.0)
    max_steps: int = setting(30, "optimisation steps per edit (early stop before)", min=1)
    lr: float = setting(1.0, "SGD learning rate of an edit", gt=0.0)


#: the fetcher's and the poll schedule's own defaults: [feeds] keys of the same names
#: read them here, so each is defined once (a test checks every shared name)
_FETCH = FetchPolicy()
_SCHEDULE = Schedule()


@dataclass(frozen=True)
class FeedsSection:
    """Polling feeds politely and safely."""

    min_interval_s: float = setting(_SCHEDULE.min_interval_s, "shortest time between two "
                                    "checks of a feed", gt=0.0)
    max_interval_s: float = setting(_SCHEDULE.max_interval_s, "longest time between two "
                                    "checks of a feed", gt=0.0)
    backoff_base_s: float = setting(_SCHEDULE.backoff_base_s, "first retry delay after an "
                                    "error (doubles, with jitter)", gt=0.0)
    max_retry_after_s: float = setting(_SCHEDULE.max_retry_after_s, "longest Retry-After "
                                       "honoured", gt=0.0)
    connect_timeout_s: float = setting(_FETCH.connect_timeout_s, "TCP/TLS connect timeout",
                                       gt=0.0)
    read_timeout_s: float = setting(_FETCH.read_timeout_s, "timeout between two received "
                                    "chunks", gt=0.0)
    total_timeout_s: float = setting(_FETCH.total_timeout_s, "whole-request deadline, slow "
                                     "drips included", gt=0.0)
    max_bytes: int = setting(_FETCH.max_bytes, "largest body accepted (bytes on the wire)",
                             min=1)
    max_decompressed_bytes: int = setting(_FETCH.max_decompressed_bytes, "largest body after "
                                          "gzip/brotli; 0 = max_bytes", min=0)
    max_redirects: int = setting(_FETCH.max_redirects, "redirects followed per fetch", min=0)
    user_agent: str = setting(_FETCH.user_agent, "User-Agent header sent to servers",
                              check=_not_blank)
    allow_networks: tuple[str, ...] = setting(_FETCH.allow_networks, "private/loopback "
                                              "networks (CIDR) that may be fetched anyway, "
                                              "e.g. [\"10.0.0.0/8\"]", check=_networks)
    failures_before_pause: int = setting(_SCHEDULE.failures_before_pause, "consecutive "
                                         "failures before a feed is paused", min=1)
    fetch_full_article: bool = setting(False, "fetch the article page when an entry has only "
                                       "a summary (default for new feeds)")
    concurrency: int = setting(16, "feeds fetched at the same time", min=1)


@dataclass(frozen=True)
class ExtractSection:
    """Turning article text into subject-relation-object facts."""

    backend: str = setting("local", "local (the base model) or openai (any OpenAI-compatible "
                           "server: vLLM, TGI, llama.cpp)", choices=("local", "openai"))
    endpoint: str = setting("", "base URL of the OpenAI-compatible server, e.g. "
                            "http://127.0.0.1:8000/v1 (backend = openai)", check=_http_url)
    api_key_env: str = setting("OPENAI_API_KEY", "environment variable holding the API key",
                               check=_env_name)
    model: str = setting("", "model name sent to the server (backend = openai)")
    local_model: str = setting("", "the model that reads the news with the local backend: "
                               "empty for the edited model itself (memory off), or a built-in "
                               "alias (gemma3-270m) or a Hugging Face folder loaded beside it")
    method: str = setting("reading", "reading: one question per candidate relation and "
                          "subject (extractors/news.py); triples: free triple generation "
                          "(extractors/triples.py)", choices=("reading", "triples"))
    batch_size: int = setting(32, "sentences per extraction batch (one prompt each with the local model)", min=1)
    max_new_tokens: int = setting(64, "generation budget per extraction prompt (a sentence yields a few short lines; replies that run to the budget are mostly loops)", min=1)
    workers: int = setting(1, "batches the local model decodes at once, each on its share of "
                           "the CPU threads (2 on a 2-core host: 5% faster on 192 sentences, "
                           "no faster on 1000)", min=1)
    timeout_s: float = setting(60.0, "timeout of one extraction request", gt=0.0)
    concurrency: int = setting(4, "extraction requests in flight", min=1)


@dataclass(frozen=True)
class PolicySection:
    """What may become an edit: news is untrusted input."""

    mode: str = setting("auto", "auto: confirmed claims are applied; manual: every edit "
                        "waits for an operator", choices=("auto", "manual"))
    min_domains: int = setting(2, "distinct source domains a claim needs", min=1)
    window_hours: float = setting(72.0, "time window in which those sources must agree",
                                  gt=0.0)
    trust_floor: float = setting(0.3, "feeds trusted less than this never count as sources",
                                 min=0.0, max=1.0)
    per_source_edits_per_day: int = setting(20, "edits one domain may contribute per day",
                                            min=0)
    subject_cooldown_hours: float = setting(24.0, "wait between two edits of one subject",
                                            min=0.0)
    protected_subjects: tuple[str, ...] = setting((), "subjects never edited automatically")
    insert_unknown: bool = setting(True, "also insert confirmed facts the model does not "
                                   "know (not only correct conflicts)")


@dataclass(frozen=True)
class DistillSection:
    """Folding the memory into a new base checkpoint."""

    schedule: str = setting("", "crontab expression (e.g. \"0 3 * * 0\"); empty = only on "
                            "demand", check=_crontab)
    min_edits: int = setting(50, "applied edits needed before a scheduled run", min=1)
    min_reliability: float = setting(0.9, "gate: share of edits answered without memory",
                                     min=0.0, max=1.0)
    min_locality: float = setting(0.97, "gate: unrelated prompts answered as before",
                                  min=0.0, max=1.0)
    max_ppl_drift: float = setting(0.03, "gate: relative perplexity increase on held-out "
                                   "text", min=0.0)
    method: str = setting("alphaedit", "how the memory is folded: alphaedit (closed-form, into "
                          "the memory's own layer inside the null space of ordinary text; only "
                          "the edits it reproduces are folded, the rest stay in memory as they "
                          "are), memit (the same layer, covariance-regularised) or student "
                          "(trained MLP layers, the whole memory)",
                          choices=("alphaedit", "memit", "student"))
    min_served_match: float = setting(0.99, "gate (alphaedit, memit): share of edit prompts "
                                      "the candidate and its memory answer as before",
                                      min=0.0, max=1.0)
    keep_checkpoints: int = setting(3, "checkpoint folders kept on disk (the active one, its "
                                    "parent and the original base are always kept)", min=1)


@dataclass(frozen=True)
class ApiSection:
    """The HTTP API and dashboard."""

    host: str = setting("127.0.0.1", "listen address (keep it local behind a proxy)",
                        check=_not_blank)
    port: int = setting(8077, "listen port", min=1, max=65535)
    token_env: str = setting("MEMOIRD_API_TOKEN", "environment variable holding the bearer "
                             "token for edit-log actions", check=_env_name)
    openai_token_env: str = setting(
        "MEMOIRD_API_OPENAI_TOKEN", "environment variable holding the bearer token that "
        "/v1/* (the OpenAI-compatible API) requires; unset or empty: /v1/* is open to anyone "
        "who can reach the port (/healthz, /readyz and /metrics are always open)",
        check=_env_name)


@dataclass(frozen=True)
class Config:
    daemon: DaemonSection = field(default_factory=DaemonSection)
    model: ModelSection = field(default_factory=ModelSection)
    memory: MemorySection = field(default_factory=MemorySection)
    feeds: FeedsSection = field(default_factory=FeedsSection)
    extract: ExtractSection = field(default_factory=ExtractSection)
    policy: PolicySection = field(default_factory=PolicySection)
    distill: DistillSection = field(default_factory=DistillSection)
    api: ApiSection = field(default_factory=ApiSection)


SECTIONS: dict[str, type] = {f.name: f.default_factory for f in fields(Config)}  # type: ignore[misc]


def _cross_checks(config: Config) -> list[tuple[str, str, str]]:
    """Rules spanning keys: (key, problem, key whose source to blame) triples."""
    problems = []
    feeds = config.feeds
    if feeds.min_interval_s > feeds.max_interval_s:
        problems.append(("feeds.min_interval_s", f"{feeds.min_interval_s:g} is above "
                         f"feeds.max_interval_s = {feeds.max_interval_s:g}",
                         "feeds.min_interval_s"))
    if config.extract.backend == "openai":
        for key in ("endpoint", "model"):
            if not getattr(config.extract, key).strip():
                problems.append((f"extract.{key}", "must be set when extract.backend = openai",
                                 "extract.backend"))
    return problems


# ---------------------------------------------------------------- loading


def load_config(path: Path | str | None = None,
                env: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (None: defaults only), apply ``env`` overrides, validate everything."""
    env = os.environ if env is None else env
    values: dict[tuple[str, str], Any] = {}
    origin: dict[tuple[str, str], str] = {}

    state_dir = env.get("STATE_DIRECTORY", "").split(":")[0]
    if state_dir:
        values[("daemon", "data_dir")] = Path(state_dir)
        origin[("daemon", "data_dir")] = "environment variable STATE_DIRECTORY"

    if path is not None:
        source = str(path)
        for key, value in _read_file(Path(path)).items():
            values[key] = _coerce_toml(key, value, source)
            origin[key] = source

    secrets = _secret_env_names(values, env)
    for name in sorted(env):
        key = _env_key(name, secrets)
        if key is not None:
            source = f"environment variable {name}"
            values[key] = _coerce_env(key, env[name], source)
            origin[key] = source

    sections = {}
    for section, cls in SECTIONS.items():
        given = {k: v for (s, k), v in values.items() if s == section}
        sections[section] = replace(cls(), **given)
    config = Config(**sections)

    for (section, key), value in _all_values(config):
        problem = _check_value(_field(section, key), value)
        if problem:
            _fail(section, key, value, problem, origin.get((section, key), "defaults"))
    for dotted, problem, blamed in _cross_checks(config):
        section, key = dotted.split(".")
        source = origin.get((section, key)) or origin.get(tuple(blamed.split(".")), "defaults")
        _fail(section, key, getattr(getattr(config, section), key), problem, source)
    return config


def _read_file(path: Path) -> dict[tuple[str, str], Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})", source=str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}", source=str(path)) from None
    found: dict[tuple[str, str], Any] = {}
    for section, table in data.items():
        if section not in SECTIONS:
            raise ConfigError(f"{path}: unknown section [{section}]{_hint(section, SECTIONS)} "
                              f"(sections: {', '.join(SECTIONS)})", key=section, source=str(path))
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section} must be a [{section}] table, got "
                              f"{table!r}", key=section, source=str(path))
        names = [f.name for f in fields(SECTIONS[section])]
        for key, value in table.items():
            if key not in names:
                raise ConfigError(f"{path}: unknown key {section}.{key}{_hint(key, names)}",
                                  key=f"{section}.{key}", source=str(path))
            found[(section, key)] = value
    return found


def _hint(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _secret_env_names(values: Mapping[tuple[str, str], Any], env: Mapping[str, str]) -> set[str]:
    """Variables named by ``*_env`` settings hold secrets, not overrides: skip them."""
    names = set()
    for section, cls in SECTIONS.items():
        for f in fields(cls):
            if f.name.endswith("_env"):
                override = env.get(f"{ENV_PREFIX}{section.upper()}_{f.name.upper()}")
                names.add(override or values.get((section, f.name), f.default))
    return names


def _env_key(name: str, secrets: set[str]) -> tuple[str, str] | None:
    """The (section, key) a MEMOIRD_ variable overrides, None if it is not an override."""
    if not name.startswith(ENV_PREFIX) or name in secrets:
        return None
    section, _, key = name[len(ENV_PREFIX):].lower().partition("_")
    if section not in SECTIONS:
        return None                     # other MEMOIRD_* variables (tests, tools) pass by
    names = [f.name for f in fields(SECTIONS[section])]
    if key not in names:
        raise ConfigError(f"environment variable {name}: unknown key {section}.{key}"
                          f"{_hint(key, names)}", key=f"{section}.{key}",
                          source=f"environment variable {name}")
    return section, key


def _field(section: str, key: str):
    return next(f for f in fields(SECTIONS[section]) if f.name == key)


def _type_of(section: str, key: str) -> Any:
    return typing.get_type_hints(SECTIONS[section])[key]


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               Path: "a path string"}


def _type_name(kind: Any) -> str:
    return _TYPE_NAMES.get(kind, "a list of strings")


def _coerce_toml(key: tuple[str, str], value: Any, source: str) -> Any:
    kind = _type_of(*key)
    ok = (
        (kind is bool and isinstance(value, bool))
        or (kind is int and isinstance(value, int) and not isinstance(value, bool))
        or (kind is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (kind in (str, Path) and isinstance(value, str))
        or (kind == tuple[str, ...] and isinstance(value, list)
            and all(isinstance(v, str) for v in value))
    )
    if not ok:
        _fail(*key, value, f"must be {_type_name(kind)}", source)
    if kind is float:
        return float(value)
    if kind is Path:
        return Path(value)
    if kind == tuple[str, ...]:
        return tuple(value)
    return value


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce_env(key: tuple[str, str], raw: str, source: str) -> Any:
    kind = _type_of(*key)
    text = raw.strip()
    try:
        if kind is bool:
            if text.lower() not in _TRUE | _FALSE:
                raise ValueError
            return text.lower() in _TRUE
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        if kind is Path:
            return Path(raw)
        if kind == tuple[str, ...]:
            if text.startswith("["):
                return _coerce_toml(key, tomllib.loads(f"v = {text}")["v"], source)
            return tuple(part.strip() for part in text.split(",") if part.strip())
        return raw
    except (ValueError, tomllib.TOMLDecodeError):
        _fail(*key, raw, f"must be {_type_name(kind)}", source)


def _check_value(f: Any, value: Any) -> str | None:
    meta = f.metadata
    if meta["choices"] and value not in meta["choices"]:
        return f"must be one of {', '.join(map(str, meta['choices']))}"
    if meta["min"] is not None and value < meta["min"]:
        return f"must be >= {meta['min']}"
    if meta["max"] is not None and value > meta["max"]:
        return f"must be <= {meta['max']}"
    if meta["gt"] is not None and value <= meta["gt"]:
        return f"must be > {meta['gt']}"
    if meta["check"] is not None:
        return meta["check"](value)
    return None


def _all_values(config: Config):
    for section in SECTIONS:
        part = getattr(config, section)
        for f in fields(part):
            yield (section, f.name), getattr(part, f.name)


def _fail(section: str, key: str, value: Any, problem: str, source: str) -> typing.NoReturn:
    from memoird.store.feeds import redact_text

    shown = str(value) if isinstance(value, Path) else value
    if isinstance(shown, str):
        shown = redact_text(shown)   # a URL's password does not belong in an error line
    raise ConfigError(f"{source}: {section}.{key} = {shown!r}: {problem}",
                      key=f"{section}.{key}", source=source)


# ---------------------------------------------------------------- the example file


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def render_example() -> str:
    """deploy/memoird.toml: every section and key, commented out at its default."""
    lines = [
        "# memoird configuration: every key, commented out at its default.",
        "# Uncomment what you change. Each key can also be set from the environment as",
        "# MEMOIRD_<SECTION>_<KEY> (e.g. MEMOIRD_FEEDS_MAX_BYTES=1048576), which wins over",
        "# this file. Unknown keys, wrong types and impossible values stop memoird at start-up.",
        "# Regenerate with: python -m memoird.daemon.config > deploy/memoird.toml",
    ]
    for section, cls in SECTIONS.items():
        lines += ["", f"[{section}]", f"# {cls.__doc__.strip()}"]
        for f in fields(cls):
            meta = f.metadata
            default = f.default if f.default is not MISSING else None
            doc = meta["doc"]
            if meta["choices"]:
                doc += f" ({' | '.join(map(str, meta['choices']))})"
            lines.append(f"# {doc}")
            lines.append(f"# {f.name} = {_toml_value(default)}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_example())
