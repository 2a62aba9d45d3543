"""Config: defaults, file, environment overrides, and start-up errors naming key and source."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from memoird.daemon.config import (BUILTIN_MODELS, SECTIONS, Config, ConfigError, load_config,
                                   render_example)

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "deploy" / "memoird.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "memoird.toml"
    path.write_text(text)
    return path


def test_defaults_without_file_or_environment():
    config = load_config(None, env={})
    assert config == Config()
    assert config.daemon.data_dir == Path(".memoird")
    assert (config.model.base, config.model.device, config.api.port) == (
        "smollm2-135m-instruct", "auto", 8077)
    assert config.feeds.max_bytes == 15 * 1024 * 1024 and config.feeds.allow_networks == ()
    assert config.policy.insert_unknown is True and config.memory.max_steps == 30


def test_file_values_and_precedence(tmp_path):
    path = write(tmp_path, """
[daemon]
log_format = "text"
[feeds]
min_interval_s = 60          # an integer where a float is expected is fine
allow_networks = ["127.0.0.0/8", "::1/128"]
[policy]
protected_subjects = ["Acme Corp"]
""")
    config = load_config(path, env={"MEMOIRD_FEEDS_MIN_INTERVAL_S": "120"})
    assert config.daemon.log_format == "text"
    assert config.feeds.min_interval_s == 120.0                    # environment wins
    assert config.feeds.allow_networks == ("127.0.0.0/8", "::1/128")
    assert config.policy.protected_subjects == ("Acme Corp",)


def test_data_dir_state_directory_then_file_then_env(tmp_path):
    systemd = {"STATE_DIRECTORY": "/var/lib/memoird:/var/lib/other"}
    assert load_config(None, env=systemd).daemon.data_dir == Path("/var/lib/memoird")
    path = write(tmp_path, '[daemon]\ndata_dir = "/srv/memoird"\n')
    assert load_config(path, env=systemd).daemon.data_dir == Path("/srv/memoird")
    both = systemd | {"MEMOIRD_DAEMON_DATA_DIR": "/tmp/x"}
    assert load_config(path, env=both).daemon.data_dir == Path("/tmp/x")


def test_environment_values_are_parsed_to_the_setting_type():
    config = load_config(None, env={
        "MEMOIRD_FEEDS_MAX_BYTES": "1048576", "MEMOIRD_MEMORY_TAU": "0.55",
        "MEMOIRD_FEEDS_FETCH_FULL_ARTICLE": "yes", "MEMOIRD_POLICY_INSERT_UNKNOWN": "off",
        "MEMOIRD_FEEDS_ALLOW_NETWORKS": '["127.0.0.0/8"]',
        "MEMOIRD_POLICY_PROTECTED_SUBJECTS": "Acme, Globex ,",
        "MEMOIRD_API_PORT": "9000",
    })
    assert config.feeds.max_bytes == 1048576 and config.memory.tau == 0.55
    assert config.feeds.fetch_full_article is True and config.policy.insert_unknown is False
    assert config.feeds.allow_networks == ("127.0.0.0/8",)
    assert config.policy.protected_subjects == ("Acme", "Globex")
    assert config.api.port == 9000


def test_secret_and_foreign_memoird_variables_are_not_overrides(tmp_path):
    env = {"MEMOIRD_API_TOKEN": "s3cret", "MEMOIRD_API_OPENAI_TOKEN": "sk-1",
           "MEMOIRD_TEST_CACHE": "/tmp/c", "MEMOIRD_CONFIG": "/etc/memoird.toml"}
    assert load_config(None, env=env) == Config()
    path = write(tmp_path, '[api]\ntoken_env = "MEMOIRD_API_SECRET"\n')
    assert load_config(path, env={"MEMOIRD_API_SECRET": "x"}).api.token_env == "MEMOIRD_API_SECRET"
    with pytest.raises(ConfigError, match="MEMOIRD_API_SECRET"):   # not the token any more
        load_config(None, env={"MEMOIRD_API_SECRET": "x"})


FILE_ERRORS = [
    ("[feed]\nmax_bytes = 1\n", "feed", "did you mean 'feeds'"),
    ("[feeds]\nmax_byte = 1\n", "feeds.max_byte", "did you mean 'max_bytes'"),
    ('[feeds]\nmax_bytes = "15MiB"\n', "feeds.max_bytes", "must be an integer"),
    ("[feeds]\nconnect_timeout_s = -1\n", "feeds.connect_timeout_s", "must be > 0"),
    ("[feeds]\nfetch_full_article = 1\n", "feeds.fetch_full_article", "true or false"),
    ('[feeds]\nallow_networks = ["localhost"]\n', "feeds.allow_networks", "not an IP network"),
    ('[feeds]\nallow_networks = "10.0.0.0/8"\n', "feeds.allow_networks", "list of strings"),
    ("[feeds]\nmin_interval_s = 7200\nmax_interval_s = 3600\n", "feeds.min_interval_s",
     "above feeds.max_interval_s"),
    ("[policy]\ntrust_floor = 1.2\n", "policy.trust_floor", "must be <= 1"),
    ('[policy]\nmode = "yolo"\n', "policy.mode", "auto, manual"),
    ("[memory]\ntau = -0.1\n", "memory.tau", "must be >= 0"),
    ("[memory]\nmax_steps = 2.5\n", "memory.max_steps", "must be an integer"),
    ('[model]\ndevice = "tpu"\n', "model.device", "not a device"),
    ('[model]\nbase = "/nonexistent/model"\n', "model.base", "neither a built-in"),
    ('[model]\ndtype = "int4"\n', "model.dtype", "float32"),
    ('[distill]\nschedule = "every sunday"\n', "distill.schedule", "crontab"),
    ("[api]\nport = 70000\n", "api.port", "must be <= 65535"),
    ('[api]\ntoken_env = "my token"\n', "api.token_env", "environment variable name"),
    ('[api]\nopenai_token_env = "1KEY"\n', "api.openai_token_env", "environment variable name"),
    ('[extract]\nbackend = "openai"\n', "extract.endpoint", "backend = openai"),
    ("daemon = 3\n", "daemon", "table"),
]


@pytest.mark.parametrize("text,key,problem", FILE_ERRORS, ids=[e[1] for e in FILE_ERRORS])
def test_file_errors_name_the_key_and_the_file(tmp_path, text, key, problem):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert str(path) in message and key in message and problem in message, message
    assert info.value.key.startswith(key.split(".")[0]) and info.value.source == str(path)


def test_invalid_toml_and_missing_file_name_the_file(tmp_path):
    path = write(tmp_path, "[feeds\nmax_bytes = 1\n")
    with pytest.raises(ConfigError, match=re.escape(str(path)) + ".*invalid TOML.*line 1"):
        load_config(path, env={})
    with pytest.raises(ConfigError, match="nope.toml: config file not found"):
        load_config(tmp_path / "nope.toml", env={})


ENV_ERRORS = [
    ("MEMOIRD_FEEDS_MAX_BYTE", "1", "feeds.max_byte"),
    ("MEMOIRD_FEEDS_MAX_BYTES", "lots", "must be an integer"),
    ("MEMOIRD_FEEDS_READ_TIMEOUT_S", "-3", "must be > 0"),
    ("MEMOIRD_POLICY_INSERT_UNKNOWN", "maybe", "true or false"),
    ("MEMOIRD_MEMORY_TAU", "1.5", "must be <= 1"),
    ("MEMOIRD_MODEL_DEVICE", "gpu", "not a device"),
    ("MEMOIRD_FEEDS_ALLOW_NETWORKS", '["10.0.0.0/8", 5]', "list of strings"),
    ("MEMOIRD_EXTRACT_BACKEND", "openai", "extract.endpoint"),
]


@pytest.mark.parametrize("name,value,problem", ENV_ERRORS, ids=[e[0] for e in ENV_ERRORS])
def test_environment_errors_name_the_variable(tmp_path, name, value, problem):
    path = write(tmp_path, "[feeds]\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={name: value})
    message = str(info.value)
    assert f"environment variable {name}" in message and problem in message, message


def test_model_base_accepts_an_existing_folder(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    config = load_config(write(tmp_path, f'[model]\nbase = "{folder}"\n'), env={})
    assert config.model.base == str(folder)


def test_builtin_aliases_have_one_source():
    """The config check and the loader read one list (editor/builtin_models.py), and the
    default base model is one of them."""
    from memoird.daemon.config import ModelSection
    from memoird.editor import builtin_models, model

    assert model.BUILTINS is builtin_models.BUILTINS
    assert BUILTIN_MODELS == tuple(builtin_models.BUILTINS) == builtin_models.BUILTIN_MODELS
    assert ModelSection().base == builtin_models.DEFAULT_MODEL in BUILTIN_MODELS
    for alias in BUILTIN_MODELS:
        assert load_config(None, env={"MEMOIRD_MODEL_BASE": alias}).model.base == alias
    with pytest.raises(ConfigError, match="neither a built-in model .smollm2-135m-instruct, "
                                          "gemma3-270m."):
        load_config(None, env={"MEMOIRD_MODEL_BASE": "no-such-model"})


def test_checkpoint_names_never_label_another_checkpoint_as_the_base(tmp_path):
    """The engine, `memoird init` and `memoird status` name the weights they serve this
    way: the configured base's name for its own folder only, else the checkpoint id."""
    from memoird.editor.builtin_models import checkpoint_name

    alias = "smollm2-135m-instruct"
    converted = tmp_path / "checkpoints" / alias
    distilled = tmp_path / "checkpoints" / "distilled-1-g7"
    assert checkpoint_name(alias, tmp_path, 1, converted) == alias
    assert checkpoint_name(alias, tmp_path, 3, distilled) == "checkpoint-3"
    folder = tmp_path / "my-model"
    assert checkpoint_name(str(folder), tmp_path, 1, folder) == "my-model"
    assert checkpoint_name(str(folder), tmp_path, 1, converted) == "checkpoint-1"  # base changed


def test_config_and_the_builtin_list_import_without_torch():
    """`memoird status`, `feeds` and the config check must not pay for importing torch."""
    import subprocess
    import sys

    code = ("import sys; import memoird.daemon.config, memoird.editor.builtin_models; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("library", ["FetchPolicy", "Schedule"])
def test_feeds_defaults_are_the_libraries_own(library):
    """[feeds] keys shared with the fetcher's and the schedule's dataclasses default to
    exactly the library's value (the config reads it), and the daemon, given no config,
    builds the library's default object."""
    from memoird.daemon.config import FeedsSection
    from memoird.daemon.wiring import build_fetcher, build_schedule
    from memoird.extractors.fetch import FetchPolicy
    from memoird.extractors.politeness import Schedule

    cls = {"FetchPolicy": FetchPolicy, "Schedule": Schedule}[library]
    shared = {f.name for f in fields(cls)} & {f.name for f in fields(FeedsSection)}
    assert len(shared) >= 5
    for name in shared:
        assert getattr(FeedsSection(), name) == getattr(cls(), name), name
    if cls is FetchPolicy:
        assert (FetchPolicy().connect_timeout_s, FetchPolicy().read_timeout_s,
                FetchPolicy().total_timeout_s) == (5.0, 10.0, 30.0)
        fetcher = build_fetcher(Config())
        try:
            assert fetcher.policy == FetchPolicy()
        finally:
            fetcher.close()
    else:
        assert build_schedule(Config()) == Schedule()


def test_example_file_documents_every_key_at_its_default(tmp_path):
    text = EXAMPLE.read_text()
    assert text == render_example(), "regenerate: python -m memoird.daemon.config > deploy/memoird.toml"
    assert load_config(EXAMPLE, env={}) == Config()            # parses; everything commented
    uncommented = re.sub(r"^# (\w+ = .*)$", r"\1", text, flags=re.M)
    data = tomllib.loads(uncommented)
    for section, cls in SECTIONS.items():
        for f in fields(cls):
            assert f.name in data[section], f"{section}.{f.name} missing from {EXAMPLE}"
            assert f.metadata["doc"], f"{section}.{f.name} has no documentation"
        assert set(data[section]) == {f.name for f in fields(cls)}
    # with every key uncommented the file still loads and means the defaults
    assert load_config(write(tmp_path, uncommented), env={}) == Config()
