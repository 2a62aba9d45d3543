"""A tiny random Llama and a word-level tokenizer for fast MEMOIR mechanics tests.

Deterministic (seeded) so that a child process builds the very same model: the
kill-mid-edit test replays edits in both and compares weights bit for bit.
"""

from __future__ import annotations

import torch

WORDS = (
    "the a of is in was plays for born city capital team what who where which does did "
    "paris rome london berlin madrid messi ronaldo kane chelsea barcelona arsenal milan "
    "river mountain music book tell me about weather today good morning house car "
    "france italy spain england germany football club player sings writes red blue green "
    "? . , '"
).split()


def tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )


def tiny_model(seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(WORDS) + 3,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    model.requires_grad_(False)
    # Larger weights than the default init so that edits must actually fight the base model.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(8.0)
    model.generation_config.eos_token_id = None  # generate exactly max_new_tokens
    return model



#: the fold tests' (nullspace, KL) memory: three tiny edits over this background
BACKGROUND = ["the river", "good morning", "what is the weather today ?", "a red car", "who sings"]


def three_edit_requests() -> list:
    from memoird.editor.memoir import EditRequest

    return [EditRequest("a", "messi plays for", "arsenal", subject="messi"),
            EditRequest("b", "the capital of france is", "rome", subject="france"),
            EditRequest("c", "kane was born in", "madrid", subject="kane")]


def memory_with(edits, config=None, path=None, tok=None):
    """A ``Memoir`` on a fresh tiny model (by default layer 2, k 32, tau 0.5) holding
    ``edits``, saved at ``path`` when one is given (``mem.model`` is the edited model)."""
    from memoird.editor.memoir import Memoir, MemoirConfig

    mem = Memoir.attach(tiny_model(), tok or tiny_tokenizer(),
                        config or MemoirConfig(layer=2, k=32, tau=0.5), path=path)
    mem.fit_background(BACKGROUND)
    for request in edits:
        mem.edit(request)
    return mem
