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


def build_chat(config: Config, runtime):
    section = config.extract
    if section.backend == "openai":
        from memoird.extractors.chat import OpenAIChat

        return OpenAIChat(section.endpoint, section.model, api_key_env=section.api_key_env,
                          timeout_s=section.timeout_s, concurrency=section.concurrency)
    if section.local_model:
        return _separate_chat(config, runtime)
    return runtime.engine.base_chat(section.batch_size, section.workers)


def _separate_chat(config: Config, runtime):
    """A local chat backend on its own model (e.g. Gemma-3-270M reading the news for a
    SmolLM2 being edited): loaded once, converted from GGUF on first use like the base."""
    from memoird.editor.model import load_base
    from memoird.extractors.chat import PLAIN_CHAT_TEMPLATE, LocalChat

    section = config.extract
    loaded = load_base(section.local_model, runtime.paths.root, config.model.device,
                       config.model.dtype)
    if not getattr(loaded.tokenizer, "chat_template", None):  # a base model
        loaded.tokenizer.chat_template = PLAIN_CHAT_TEMPLATE
    return LocalChat(loaded.model, loaded.tokenizer, name=loaded.name,
                     batch_size=section.batch_size, workers=section.workers,
                     one_line=section.method == "reading")


def build_extractor(config: Config, runtime):
    from memoird.extractors.news import NewsExtractor
    from memoird.extractors.triples import TripleExtractor

    section = config.extract
    if section.method == "reading":
        return NewsExtractor(build_chat(config, runtime), batch_size=section.batch_size)
    unit = "chunk" if section.backend == "openai" else "sentence"
    return TripleExtractor(build_chat(config, runtime), unit=unit,
                           max_new_tokens=section.max_new_tokens,
                           batch_size=section.batch_size)
