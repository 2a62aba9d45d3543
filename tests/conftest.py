"""Shared fixtures. The embedded model is converted once per machine and cached under .cache/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
MODEL_CACHE = Path(os.environ.get("MEMOIRD_TEST_CACHE", REPO / ".cache" / "test-data"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data folder {SHARED_DATA} is missing (it sits beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def model_cache_dir() -> Path:
    """A data directory whose checkpoints/ holds converted built-ins, shared by all tests."""
    MODEL_CACHE.mkdir(parents=True, exist_ok=True)
    return MODEL_CACHE


@pytest.fixture(scope="session")
def embedded_model_dir(model_cache_dir: Path) -> Path:
    """Safetensors folder of SmolLM2-135M-Instruct (converted from the packaged GGUF once)."""
    from memoird.editor.model import convert_builtin

    return convert_builtin("smollm2-135m-instruct", model_cache_dir)


@pytest.fixture(scope="session")
def embedded_model(embedded_model_dir: Path, model_cache_dir: Path):
    """One loaded SmolLM2 for the whole session. Tests must not change its weights."""
    import torch

    from memoird.editor.model import load_base

    torch.manual_seed(0)
    return load_base("smollm2-135m-instruct", model_cache_dir, device="cpu")


@pytest.fixture
def store_db(tmp_path: Path):
    """A freshly migrated memoird database in a real file under tmp_path (store helper)."""
    from memoird.store import open_db

    db = open_db(tmp_path / "state" / "memoird.db")
    yield db
    db.close()


# --- ingest helper: loopback feed server and fetchers (tests/feedserver.py) ---------------------

@pytest.fixture
def feed_server(shared_data: Path):
    """A real HTTP server on 127.0.0.1 serving ../shared/data/feeds/ with ETag/Last-Modified/gzip."""
    from feedserver import FeedServer

    with FeedServer(shared_data / "feeds") as srv:
        yield srv


@pytest.fixture
def loopback_policy():
    """Fetch limits for tests: loopback allowed, short timeouts, 1 MiB cap."""
    from memoird.extractors.fetch import FetchPolicy

    return FetchPolicy(connect_timeout_s=2.0, read_timeout_s=1.0, total_timeout_s=3.0,
                       max_bytes=1 << 20, allow_networks=("127.0.0.0/8",))


@pytest.fixture
def fetcher(loopback_policy):
    from memoird.extractors.fetch import Fetcher

    with Fetcher(loopback_policy) as f:
        yield f


# --- extract helper: one relation mapper (sentence-transformers index) per session ----------

@pytest.fixture(scope="session")
def relation_mapper():
    """RelationMapper over the built-in schema; building its embedding index costs seconds."""
    from memoird.extractors.schema import RelationMapper, RelationSchema

    return RelationMapper(RelationSchema.default())
