"""Requests before background work (daemon/priority.py): the lock's order, lending between
units of background work, the memory's state kept aside meanwhile, and cancellation
leaving every record as it was."""

from __future__ import annotations

import threading
import time

import pytest

from memoird.daemon.priority import BackgroundCancelled, ModelLock
from test_engine import tiny_engine  # noqa: F401 (fixture)


def _thread(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def _until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


# -- the lock ---------------------------------------------------------------------------------

def _takers(lock: ModelLock, order: list[str]):
    """Background work and a request that note when they got the model."""
    def background():
        with lock:
            order.append("background")

    def request():
        with lock.request():
            order.append("request")

    return background, request


def test_a_waiting_request_goes_before_waiting_background_work():
    lock, order = ModelLock(), []
    background, request = _takers(lock, order)

    lock.acquire()  # background work in hand
    waiting = _thread(background)
    time.sleep(0.05)  # the background waiter was first in the queue
    asking = _thread(request)
    _until(lambda: lock.requests_waiting == 1)
    lock.release()
    waiting.join(5), asking.join(5)
    assert order == ["request", "background"]


def test_background_work_lends_the_model_between_units_and_resumes():
    lock, order = ModelLock(), []
    started = threading.Event()

    def background(name: str, units: int):
        with lock:
            for unit in range(units):
                started.set()
                order.append(f"{name}{unit}")
                time.sleep(0.01)
                lock.lend()

    def request():
        with lock.request():
            order.append("request")

    first = _thread(lambda: background("a", 20))
    started.wait(5)
    other = _thread(lambda: background("b", 1))  # waits: the lock is held, then lent
    asking = _thread(request)
    asking.join(5)
    first.join(5), other.join(5)
    served = order.index("request")
    # served between two units of the first holder, which then went on where it was;
    # the other background work never slipped in while the lock was lent
    assert 0 < served < 20 and order[served - 1].startswith("a")
    assert [u for u in order if u.startswith("a")] == [f"a{i}" for i in range(20)]
    assert order[-1] == "b0" and lock.lent >= 1


def test_the_lock_is_reentrant_in_both_modes_and_lending_keeps_the_depth():
    lock = ModelLock()
    with lock, lock.request(), lock:
        assert lock.held()
        assert lock.lend() is False  # no request waits: nothing to do
    assert not lock.held()

    def request():
        with lock.request():
            pass

    with lock, lock:
        asking = _thread(request)
        _until(lambda: lock.requests_waiting == 1)
        assert lock.lend() is True
        asking.join(5)
        assert lock.held()
    assert not lock.held()
    with pytest.raises(RuntimeError):
        lock.release()


def test_the_background_turn_leaves_requests_alone_and_keeps_other_background_work_out():
    lock, order = ModelLock(), []
    background, request = _takers(lock, order)

    with lock.turn:  # a reading beside the requests
        asking, waiting = _thread(request), _thread(background)
        asking.join(5)
        time.sleep(0.05)
        assert order == ["request"]  # served at once; the other background task waits
    waiting.join(5)
    assert order == ["request", "background"]


# -- the engine -------------------------------------------------------------------------------

def test_a_request_is_answered_while_a_reading_batch_decodes(tiny_engine):  # noqa: F811
    """The reading runs on a view of the weights without the memory, beside requests: a
    request sent mid-batch is answered before the batch's next step, and both give what
    they give alone."""
    from memoird.editor.residual import ResidualDownProj

    engine, (loaded, memoir, _), _ = tiny_engine
    chat = engine.base_chat(batch_size=4)
    batch = [[{"role": "user", "content": f"{w} plays for"}] for w in ("messi", "kane", "who")]
    prompt = "the capital of france is"
    alone_reply = chat.chat(batch, max_new_tokens=24)
    alone_answer = engine.complete([prompt], max_new_tokens=6)[0].text
    view = engine._local_chat(4, 1).model
    live = {id(p) for p in loaded.model.parameters()}
    assert view is not loaded.model and {id(p) for p in view.parameters()} <= live
    assert not any(isinstance(m, ResidualDownProj) for m in view.modules())

    answered, steps, memory_on = [], [], []

    def on_step(*_):
        steps.append(len(answered))
        memory_on.append(memoir.wrapper.enabled)
        if len(steps) == 3:  # a request arrives while the batch decodes
            _thread(lambda: answered.append(engine.complete([prompt], max_new_tokens=6)[0].text))
            _until(lambda: answered)  # served without waiting for the reading

    hook = view.register_forward_pre_hook(on_step)
    try:
        reply = chat.chat(batch, max_new_tokens=24)
    finally:
        hook.remove()
    assert reply == alone_reply and answered == [alone_answer]
    assert steps[:3] == [0, 0, 0] and len(steps) > 4 and set(memory_on) == {True}


def test_a_probe_batch_lends_the_model_between_decoding_steps(tiny_engine):  # noqa: F811
    """Work on the live model (probing, verification, edits) hands it to a waiting
    request between two steps, the memory's state for the paused batch kept aside."""
    engine, (loaded, memoir, _), _ = tiny_engine
    backend = engine.prober().backend
    prompts = ["messi plays for", "kane plays for the", "who sings"]
    prompt = "the capital of france is"
    alone = backend.greedy(prompts)
    alone_answer = engine.complete([prompt], max_new_tokens=6)[0].text
    prober = threading.get_ident()
    seen: list[str] = []
    answered: list[str] = []

    def on_forward(*_):
        mine = threading.get_ident() == prober
        seen.append("probe" if mine else "request")
        if mine and seen.count("probe") == 3:
            _thread(lambda: answered.append(engine.complete([prompt], max_new_tokens=6)[0].text))
            _until(lambda: engine.lock.requests_waiting == 1)

    hook = loaded.model.register_forward_pre_hook(on_forward)
    try:
        answers = backend.greedy(prompts)
    finally:
        hook.remove()
    assert answers == alone and answered == [alone_answer]
    first, last = seen.index("request"), len(seen) - 1 - seen[::-1].index("request")
    assert seen[:first] == ["probe"] * 3 and "probe" in seen[last:]  # served mid-batch
    assert engine.lock.lent >= 1 and memoir.wrapper.enabled


def test_set_aside_keeps_a_decode_in_progress_apart(tiny_engine):  # noqa: F811
    engine, (_, memoir, _), _ = tiny_engine
    wrapper = memoir.wrapper
    routes = object()
    wrapper.enabled, wrapper.routes, memoir._fixed = False, routes, True
    with memoir.set_aside():
        assert (wrapper.enabled, wrapper.routes, memoir._fixed) == (True, None, False)
        wrapper.routes = "another caller's"
    assert (wrapper.enabled, wrapper.routes, memoir._fixed) == (False, routes, True)
    wrapper.enabled, wrapper.routes, memoir._fixed = True, None, False


def _approved(db, prompt: str = "messi plays for", target: str = "arsenal"):
    from memoird.store import edits

    return edits.create_edit(db, subject="messi", relation="P54", prompt=prompt, target=target,
                             actor="test", reason="test edit", status="approved")


def test_cancelled_background_work_leaves_the_memory_as_it_was(tiny_engine, store_db):  # noqa: F811
    from memoird.daemon.stages.apply import apply_approved_edits
    from memoird.store import edits

    engine, _, _ = tiny_engine
    edit = _approved(store_db)
    generation = engine.memory_generation
    engine.cancel_background()
    assert engine.background_cancelled
    with pytest.raises(BackgroundCancelled):
        engine.base_chat().chat([[{"role": "user", "content": "messi plays for"}]], 4)
    with pytest.raises(BackgroundCancelled):  # between two training steps
        apply_approved_edits(store_db, engine)
    assert engine.edit_ids() == [] and engine.memory_generation == generation
    assert edits.get_edit(store_db, edit.id).status == "approved"
    # requests are still served while the daemon stops
    assert len(engine.complete(["messi plays for"], max_new_tokens=2)) == 1


def test_an_edit_stopped_during_its_verification_is_taken_out_again(tiny_engine, store_db):  # noqa: F811
    from memoird.daemon.stages.apply import apply_approved_edits
    from memoird.store import edits

    engine, _, _ = tiny_engine
    edit = _approved(store_db)

    def verify(target, logged):
        assert engine.holds(logged.id)  # trained and committed, not yet verified
        engine.cancel_background()  # SIGTERM arrives
        target.pause()  # the verifier's next decoding step
        raise AssertionError("not reached")

    with pytest.raises(BackgroundCancelled):
        apply_approved_edits(store_db, engine, verify=verify)
    assert not engine.holds(edit.id)  # the next start trains and verifies it again
    assert edits.get_edit(store_db, edit.id).status == "approved"


class _Reader:
    """An extractor whose first read states a person fact and whose second look (or
    first read) is cut by a stopping daemon."""

    name = "reader"

    def __init__(self, stop_in: str):
        self.stop_in = stop_in

    def extract_many(self, texts, years=None, hints=None):
        from memoird.extractors.triples import ExtractedFact

        if self.stop_in == "read":
            raise BackgroundCancelled("the daemon is stopping")
        return [[ExtractedFact("Nordhaven Energy", "chief executive", "Lena Dahl", "P169",
                               text, 0.9, 1.0, "reader", subject_type="organisation",
                               object_type="person")] for text in texts]

    def corroborate_many(self, texts, claims, years=None):
        raise BackgroundCancelled("the daemon is stopping")


@pytest.mark.parametrize("stop_in", ["read", "second look"])
def test_an_extraction_stopped_midway_stores_nothing_of_its_batch(store_db, stop_in):
    from memoird.daemon.stages.extract import extract_pending_articles
    from memoird.store import articles, facts, feeds

    feed = feeds.add_feed(store_db, "https://news.example.org/rss")
    earlier, _ = articles.insert_article(store_db, feed.id, guid="e", text="Lena Dahl spoke.",
                                         status="extracted")
    new, _ = articles.insert_article(store_db, feed.id, guid="n",
                                     text="Lena Dahl was named chief executive of Nordhaven.")
    with pytest.raises(BackgroundCancelled):
        extract_pending_articles(store_db, _Reader(stop_in))
    assert articles.get_article(store_db, new.id).status == "new"  # read again next start
    assert facts.facts_for_article(store_db, new.id) == []
    assert facts.facts_for_article(store_db, earlier.id) == []
