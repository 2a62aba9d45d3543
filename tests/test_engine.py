"""The live engine on the real embedded model: registry, edits, restart, crash reconciliation."""

from __future__ import annotations

from pathlib import Path

import pytest

from memoird.daemon import actions
from memoird.daemon.config import load_config
from memoird.daemon.runtime import Runtime
from memoird.daemon.stages.apply import apply_approved_edits
from memoird.store import checkpoints, edits

PROMPT = "The capital of Indonesia is"
UNRELATED = "The capital of France is"


def make_runtime(data_dir: Path, model_dir: Path) -> Runtime:
    return Runtime(load_config(None, env={
        "MEMOIRD_DAEMON_DATA_DIR": str(data_dir),
        "MEMOIRD_MODEL_BASE": str(model_dir),
        "MEMOIRD_MODEL_DEVICE": "cpu",
    }))


@pytest.fixture(scope="module")
def rt(tmp_path_factory, embedded_model_dir):
    runtime = make_runtime(tmp_path_factory.mktemp("engine"), embedded_model_dir)
    yield runtime
    runtime.engine.close()
    runtime.close()


def approve(db, subject: str, prompt: str, target: str):
    return edits.create_edit(db, subject=subject, prompt=prompt, target=target,
                             relation="P36", actor="test", reason="test edit",
                             status="approved")


def test_first_start_registers_the_base_as_active_checkpoint(rt):
    engine = rt.engine
    active = checkpoints.active_checkpoint(rt.db())
    assert active is not None and Path(active.path) == engine.checkpoint_path
    assert engine.memory_file.exists()
    assert engine.edit_count == 0


def test_edit_changes_answer_and_survives_restart(rt, embedded_model_dir):
    engine = rt.engine
    db = rt.db()
    before = engine.generate([PROMPT, UNRELATED], max_new_tokens=6)
    assert "Jakarta" in before[0]
    edit = approve(db, "Indonesia", PROMPT, "Nusantara")
    report = apply_approved_edits(db, engine)
    assert report.applied == 1, report
    after = engine.generate([PROMPT, UNRELATED], max_new_tokens=6)
    assert after[0].strip().startswith("Nusantara")
    assert after[1] == before[1]  # unrelated prompt identical
    logged = edits.get_edit(db, edit.id)
    assert logged.status == "applied" and logged.memory_generation == engine.memory_generation

    # A second process on the same data directory sees the same memory, bit for bit.
    other = make_runtime(rt.paths.root, embedded_model_dir)
    try:
        assert other.engine.generate([PROMPT, UNRELATED], max_new_tokens=6) == after
    finally:
        other.engine.close()
        other.close()
        # closing detached the other memory from its own model copy only
    assert engine.generate([PROMPT], max_new_tokens=6) == after[:1]


def test_reconcile_follows_the_memory_file(rt, embedded_model_dir):
    """A crash between the memory commit and the log write is repaired at start-up: a
    reverted edit is logged reverted; a trained edit that was never verified stays
    approved, and the apply stage verifies it without training it again."""
    engine = rt.engine
    db = rt.db()
    # Committed to memory, log never updated (killed after the memory write).
    lost = approve(db, "Croatia", "The official currency of Croatia is", "the euro")
    engine.apply_edit(lost)
    assert edits.get_edit(db, lost.id).status == "approved"
    # Reverted in memory, log still says applied (killed after the memory write).
    applied = edits.list_edits(db, status="applied")[0]
    engine.revert_edit(applied.id)

    restarted = make_runtime(rt.paths.root, embedded_model_dir)
    try:
        restarted.engine  # opening reconciles
        assert edits.get_edit(db, applied.id).status == "reverted"
        assert [e.actor for e in edits.edit_events(db, applied.id)][-1] == "recovery"
        assert edits.get_edit(db, lost.id).status == "approved"
        assert restarted.engine.holds(lost.id)
        generation = restarted.engine.memory_generation
        checked = []
        report = apply_approved_edits(restarted.db(), restarted.engine,
                                      verify=lambda target, edit: (checked.append(edit.id)
                                                                   or (True, {"ok": 1}, "")))
        assert report.applied == 1 and checked == [lost.id]
        assert restarted.engine.memory_generation == generation  # not trained again
        logged = edits.get_edit(db, lost.id)
        assert logged.status == "applied" and logged.verification["checks"] == {"ok": 1}
        assert "before the process stopped" in edits.edit_events(db, lost.id)[-1].reason
    finally:
        restarted.engine.close()
        restarted.close()


def test_an_edit_killed_before_its_verification_is_verified_after_the_restart(
        tmp_path, embedded_model_dir):
    """Regression (kill soak): a SIGKILL between training (memory committed) and
    verification used to let recovery log the edit ``applied`` unchecked, so an edit that
    fails verification stayed in the model. Now it is verified after the restart, and a
    failing one is reverted and logged ``failed``."""
    first = make_runtime(tmp_path, embedded_model_dir)
    db = first.db()
    bad = approve(db, "Peru", "The capital of Peru is", "Cusco")
    first.engine.apply_edit(bad)  # trained and committed; the process dies here
    first.engine.close()
    first.close()

    restarted = make_runtime(tmp_path, embedded_model_dir)
    try:
        engine, db = restarted.engine, restarted.db()
        assert edits.get_edit(db, bad.id).status == "approved" and engine.holds(bad.id)
        report = apply_approved_edits(db, engine,
                                      verify=lambda target, edit: (False, {}, "canary moved"))
        assert (report.applied, report.failed) == (0, 1)
        assert not engine.holds(bad.id)
        assert edits.get_edit(db, bad.id).status == "failed"
        events = edits.edit_events(db, bad.id)
        assert [e.to_status for e in events][-2:] == ["applied", "failed"]
        assert "canary moved" in events[-1].reason
    finally:
        restarted.engine.close()
        restarted.close()


def test_revert_action_restores_base_answer(rt):
    engine = rt.engine
    db = rt.db()
    edit = approve(db, "Kazakhstan", "The capital of Kazakhstan is", "Astana")
    base = engine.generate([edit.prompt], max_new_tokens=6, use_memory=False)
    apply_approved_edits(db, engine)
    assert engine.generate([edit.prompt], max_new_tokens=6)[0].strip().startswith("Astana")
    reverted = actions.revert_edit(rt, edit.id, actor="test", reason="wrong")
    assert reverted.status == "reverted"
    assert engine.generate([edit.prompt], max_new_tokens=6) == base


# --- the engine owns its model: probers, chat and verification come from it ---------------


def test_a_checkpoint_switch_makes_the_next_probe_ask_the_new_model(tmp_path, embedded_model_dir,
                                                                   monkeypatch):
    """After a switch the probe stage asks the new weights and records the new checkpoint
    (not the old model under the new id); a prober kept from before refuses to ask."""
    from memoird.daemon.distill_job import switch_checkpoint
    from memoird.daemon.engine import EngineSwitched
    from memoird.daemon.stages.probe import probe_pending_facts
    from memoird.editor import model as model_module
    from memoird.editor.probe import ProbeRequest
    from memoird.store import articles, facts, feeds, probes

    rt = make_runtime(tmp_path / "data", embedded_model_dir)
    try:
        engine, db = rt.engine, rt.db()
        base = checkpoints.active_checkpoint(db)
        before = engine.prober()
        old_model = before.backend.model
        assert engine.prober() is before  # one per checkpoint: the similarity model is shared
        # a second checkpoint: the same weights in another folder (links, not a 0.5 GB copy)
        folder = rt.paths.checkpoints / f"distilled-{base.id}-g0"
        folder.mkdir(parents=True)
        for f in Path(embedded_model_dir).iterdir():
            (folder / f.name).symlink_to(f.resolve())
        new = checkpoints.register_checkpoint(db, folder, parent_id=base.id)
        loads = []
        real_load = model_module.load_base

        def load(*args, **kwargs):
            loads.append(real_load(*args, **kwargs))
            return loads[-1]

        monkeypatch.setattr(model_module, "load_base", load)
        switch_checkpoint(rt, new.id, engine=engine)
        [loaded] = loads
        assert engine.checkpoint.id == new.id and loaded.model is not old_model
        assert engine.name == f"checkpoint-{new.id}" and not engine.is_base

        prober = engine.prober()
        assert prober is not before and prober.backend.model is loaded.model
        calls = {"old": 0, "new": 0}
        hooks = [m.register_forward_hook(lambda *_, key=key: calls.__setitem__(key, calls[key] + 1))
                 for key, m in (("old", old_model), ("new", loaded.model))]
        try:
            feed = feeds.add_feed(db, "https://wire.example/feed.xml")
            article, _ = articles.insert_article(db, feed.id, guid="1",
                                                 url="https://wire.example/1", text="...")
            fact = facts.add_fact(db, article.id, subject="France", raw_relation="capital",
                                  relation="P36", object="Paris")
            report = probe_pending_facts(db, engine)  # as the pipeline's probe stage calls it
        finally:
            for hook in hooks:
                hook.remove()
        assert report.probes == 1, report
        assert calls["new"] > 0 and calls["old"] == 0, calls
        [probe] = probes.probes_for_fact(db, fact.id)
        assert probe.checkpoint_id == new.id and probe.answer.startswith("Paris")
        with pytest.raises(EngineSwitched):
            before.probe([ProbeRequest("France", "Paris", ["The capital of {subject} is"])])
    finally:
        rt.engine.close()
        rt.close()


@pytest.fixture
def tiny_engine(tmp_path, monkeypatch):
    """An Engine on a tiny random Llama (checkpoint 1, the configured base) and what a
    switch to checkpoint 2 needs: fast tests of what the engine hands out."""
    from types import SimpleNamespace

    import torch
    from memoir_tiny import tiny_model, tiny_tokenizer

    from memoird.daemon import engine as engine_module
    from memoird.editor.memoir import Memoir, MemoirConfig
    from memoird.editor.model import LoadedModel
    from memoird.extractors.chat import PLAIN_CHAT_TEMPLATE

    class Similarity:  # the sentence-transformers model is not what is under test
        def pairs(self, left, right):
            return [float(a == b) for a, b in zip(left, right)]

    monkeypatch.setattr(engine_module, "default_similarity", Similarity)

    def part(n: int):
        tok = tiny_tokenizer()
        tok.chat_template = PLAIN_CHAT_TEMPLATE
        folder = tmp_path / "checkpoints" / f"tiny-{n}"
        folder.mkdir(parents=True)
        loaded = LoadedModel(tiny_model(seed=n), tok, folder, torch.device("cpu"), folder.name,
                             0.0, False)
        memoir = Memoir.attach(loaded.model, tok, MemoirConfig(layer=2, k=32, tau=0.5))
        memoir.fit_background(["the river", "good morning", "a red car", "who sings"])
        checkpoint = SimpleNamespace(id=n, path=str(folder), parent_id=None if n == 1 else 1)
        return loaded, memoir, checkpoint

    first, second = part(1), part(2)
    engine = engine_module.Engine(*first, base=(str(first[0].path), tmp_path))
    yield engine, first, second
    engine.close()


def _counting(models):
    calls = {key: 0 for key in models}
    hooks = [m.register_forward_hook(lambda *_, key=key: calls.__setitem__(key, calls[key] + 1))
             for key, m in models.items()]
    return calls, hooks


def test_switch_rebuilds_probers_and_renames(tiny_engine):
    from memoird.daemon.engine import EngineSwitched
    from memoird.editor.probe import ProbeRequest, ProbeThresholds

    engine, (a, mem_a, ckpt_a), (b, mem_b, ckpt_b) = tiny_engine
    request = ProbeRequest("messi", "arsenal", ["{subject} plays for"])
    assert (engine.name, engine.is_base) == ("tiny-1", True)
    before = engine.prober()
    assert engine.prober() is before and before.backend.model is a.model
    assert before.probe([request])[0].checkpoint == ckpt_a.id

    engine.switch(b, mem_b, ckpt_b)
    assert (engine.name, engine.is_base, engine.checkpoint) == ("checkpoint-2", False, ckpt_b)
    after = engine.prober()
    assert after is not before and after.backend.model is b.model
    calls, hooks = _counting({"a": a.model, "b": b.model})
    try:
        [result] = after.probe([request])
        with pytest.raises(EngineSwitched):
            before.probe([request])
    finally:
        for hook in hooks:
            hook.remove()
    assert calls["b"] > 0 and calls["a"] == 0
    assert (result.checkpoint, result.memory_generation) == (ckpt_b.id, mem_b.generation)
    # thresholds are part of what a prober is: another set gets its own
    strict = ProbeThresholds(agree_gap=0.5, conflict_gap=2.0)
    assert engine.prober(strict).thresholds == strict and engine.prober(strict) is not after
    # the old memory was detached from the old weights; the new one is the engine's
    assert a.model.model.layers[2].mlp.down_proj is not mem_a.wrapper
    assert b.model.model.layers[2].mlp.down_proj is mem_b.wrapper


def test_base_chat_follows_the_switch_with_the_memory_off(tiny_engine):
    """wiring.build_chat's local backend is the engine's: it reads on a view of the
    weights the engine serves when the batch runs, without the memory (which stays on for
    everything else)."""
    from memoird.daemon.config import load_config
    from memoird.daemon.wiring import build_chat
    from memoird.editor.residual import ResidualDownProj

    engine, (a, mem_a, _), (b, mem_b, ckpt_b) = tiny_engine
    chat = build_chat(load_config(None, env={}), type("Runtime", (), {"engine": engine}))
    assert chat.name == engine.name == "tiny-1"
    conversation = [{"role": "user", "content": "messi plays for"}]

    def reader_of(model):
        view = engine._local_chat(chat.batch_size, chat.workers).model
        weights = {id(p) for p in model.parameters()}
        assert view is not model and {id(p) for p in view.parameters()} <= weights
        assert not any(isinstance(m, ResidualDownProj) for m in view.modules())
        return view

    first = chat.chat([conversation], max_new_tokens=2)
    with mem_a.disabled():
        assert chat.chat([conversation], max_new_tokens=2) == first  # the base's answer
    reader_of(a.model)
    engine.switch(b, mem_b, ckpt_b)
    second = chat.chat([conversation], max_new_tokens=2)
    reader_of(b.model)
    assert len(first) == len(second) == 1 and chat.name == "checkpoint-2"
    assert mem_b.wrapper.enabled  # on for everything else


def test_verify_target_and_without_memory_are_the_live_model(tiny_engine):
    engine, (a, mem_a, _), (b, mem_b, ckpt_b) = tiny_engine
    target = engine.verify_target()
    assert (target.model, target.tokenizer, target.memoir, target.lock) == (
        a.model, a.tokenizer, mem_a, engine.lock)
    engine.switch(b, mem_b, ckpt_b)
    target = engine.verify_target()
    assert (target.model, target.memoir) == (b.model, mem_b)
    with engine.without_memory():
        assert mem_b.wrapper.enabled is False
    assert engine.edit_ids() == [] and engine.memory_file is None
