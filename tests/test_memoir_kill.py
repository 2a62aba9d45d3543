"""SIGKILL a process in the middle of its edits, repeatedly: the memory file is always a
committed state (old or new, never half-applied), earlier edits stay intact, and a restart
continues bit-identically to a run that was never interrupted."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from memoir_tiny import tiny_model, tiny_tokenizer  # noqa: E402

from memoird.editor.memoir import EditRequest, Memoir, MemoirConfig  # noqa: E402

CONFIG = MemoirConfig(layer=2, k=32, tau=0.5, steps=10)
BACKGROUND = ["the river", "good morning", "what is the weather today ?", "a red car", "who sings"]
SUBJECTS = ["messi", "ronaldo", "kane", "paris", "rome", "london", "berlin"]
TARGETS = ["arsenal", "milan", "chelsea", "barcelona", "spain", "england", "germany", "red", "blue", "green"]
EDITS = [
    EditRequest(f"e{i}", f"where is {s} ?", TARGETS[i], subject=s) for i, s in enumerate(SUBJECTS)
]

CHILD = r"""
import sys, torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
from memoir_tiny import tiny_model, tiny_tokenizer
from test_memoir_kill import BACKGROUND, CONFIG, EDITS
from memoird.editor.memoir import Memoir
mem = Memoir.open({path!r}, tiny_model(), tiny_tokenizer(), CONFIG)
if mem.background is None:
    mem.fit_background(BACKGROUND)
    mem.save()
for request in EDITS[len(mem):]:
    print("start", request.edit_id, flush=True)
    mem.edit(request)
print("finished", flush=True)
"""


def expected_states() -> list[torch.Tensor]:
    """W_m after 0, 1, ... edits, from one uninterrupted in-process run."""
    mem = Memoir.attach(tiny_model(), tiny_tokenizer(), CONFIG)
    mem.fit_background(BACKGROUND)
    states = [mem.wrapper.memory.detach().clone()]
    for request in EDITS:
        mem.edit(request)
        states.append(mem.wrapper.memory.detach().clone())
    return states


def run_child(path: Path, kill: tuple[int, float] | None) -> str:
    """Run the child; with kill=(j, s), SIGKILL it s seconds after its j-th edit started."""
    code = CHILD.format(tests=str(Path(__file__).parent), path=str(path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        if kill is None:
            proc.wait(timeout=600)
            return proc.stdout.read()
        seen = ""
        for _ in range(kill[0]):
            line = proc.stdout.readline()
            seen += line
            if not line.startswith("start"):
                break
        time.sleep(kill[1])
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        return seen
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()


def test_sigkill_mid_edit_never_leaves_half_an_edit(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic as the child, for bit-exact comparisons
    try:
        states = expected_states()
        tok = tiny_tokenizer()
        path = tmp_path / "memory.safetensors"
        rng = random.Random(1234)
        seen = []
        for _ in range(5):
            run_child(path, kill=(rng.randint(1, 2), rng.uniform(0.0, 0.5)))
            if not path.exists():
                seen.append(0)
                continue
            mem = Memoir.load(path, tiny_model(), tok)
            g = mem.generation
            seen.append(g)
            assert mem.edit_ids() == [e.edit_id for e in EDITS[:g]]  # a prefix: none half-applied
            assert torch.equal(mem.wrapper.memory, states[g])  # exactly the committed state
            mem.detach()
        assert seen == sorted(seen) and seen[-1] > 0, f"committed generations per kill: {seen}"
        out = run_child(path, kill=None)
        assert "finished" in out
        mem = Memoir.load(path, tiny_model(), tok)
        assert mem.edit_ids() == [e.edit_id for e in EDITS] and mem.generation == len(EDITS)
        assert torch.equal(mem.wrapper.memory, states[-1])  # restarts replayed nothing twice
        assert mem.route([e.prompt for e in EDITS]) == [e.edit_id for e in EDITS]
        assert not list(tmp_path.glob(".*.tmp")), "stale temp files are cleaned on load"
    finally:
        torch.set_num_threads(threads)
