"""Base-model loading: built-in GGUF conversion into a safetensors folder, reload, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from memoird.editor.model import ModelError, load_base, resolve_base, resolve_device


def test_builtin_converts_to_plain_safetensors_folder(embedded_model_dir: Path):
    files = {p.name for p in embedded_model_dir.iterdir()}
    assert "model.safetensors" in files and "config.json" in files and "tokenizer.json" in files
    config = json.loads((embedded_model_dir / "config.json").read_text())
    # A checkpoint must load in plain transformers/vLLM: no leftover GGUF quantisation marker.
    assert "quantization_config" not in config
    assert config["num_hidden_layers"] == 30
    assert not any(p.name.startswith(".") and p.is_dir() for p in embedded_model_dir.parent.iterdir()), (
        "a staging folder was left behind"
    )


def test_conversion_removes_staging_left_by_a_killed_one(tmp_path: Path):
    """A SIGKILLed conversion leaves `.alias-XXXX/` behind; the next one clears it."""
    from memoird.editor.model import convert_builtin

    stale = tmp_path / "checkpoints" / ".smollm2-135m-instruct-killed"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"half a file")
    target = convert_builtin("smollm2-135m-instruct", tmp_path)
    assert (target / "config.json").exists()
    assert not stale.exists()


def test_reload_uses_the_converted_folder_and_matches_it(embedded_model, model_cache_dir):
    again = load_base("smollm2-135m-instruct", model_cache_dir, device="cpu")
    assert again.converted is False
    assert again.path == embedded_model.path
    ids = again.tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.inference_mode():
        a = embedded_model.model(ids).logits
        b = again.model(ids).logits
    assert torch.equal(a, b)
    out = again.model.generate(ids, max_new_tokens=3, do_sample=False)
    assert "Paris" in again.tokenizer.decode(out[0, ids.shape[1]:])


def test_plain_hf_folder_loads_by_path(embedded_model_dir: Path, tmp_path: Path):
    loaded = load_base(str(embedded_model_dir), tmp_path, device="cpu")
    assert loaded.name == "smollm2-135m-instruct"
    assert not any(loaded.model.parameters().__next__().requires_grad for _ in [0])


def test_unknown_model_names_the_input(tmp_path: Path):
    with pytest.raises(ModelError, match="no-such-model"):
        resolve_base("no-such-model", tmp_path)


def test_bad_device_and_dtype_are_refused(tmp_path: Path, embedded_model_dir: Path):
    with pytest.raises(ModelError, match="tpu"):
        resolve_device("tpu")
    with pytest.raises(ModelError, match="int3"):
        load_base(str(embedded_model_dir), tmp_path, dtype="int3")
