"""The tiny offline model: a small Llama-architecture causal LM with random
weights and a character-level tokenizer, both built locally (no download).

The vocabulary is what the built-in tasks need: digits, a few operators and
letters, and the preset's tags as single tokens, so completions are short (a
correct answer to ``3+4=`` is ``<answer>7</answer>`` plus EOS: 4 tokens) and a
2-core CPU can run a few hundred GRPO steps in minutes.

The build is cached under ``$GRPO_TUI_CACHE`` (tests share one that way) or
``core.run.rundir.cache_home()``, in a folder named after a hash of its spec, so it
is rebuilt only when the spec (sizes, tags, seed) changes. The folder is a
normal ``save_pretrained`` directory: ``from_pretrained(path)`` loads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from ..core.settings.config import RunConfig
from ..core.run.rundir import cache_home, private_dir

TINY_MODEL = "builtin:tiny"
SPEC_VERSION = 1

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
# Single characters the built-in tasks use (space included).
CHARS = list("0123456789+-*=?:. abcdefghijklmnopqrstuvwxyz,")


def tiny_spec(cfg: RunConfig) -> dict:
    tags = sorted({cfg.reasoning_start, cfg.reasoning_end, cfg.solution_start, cfg.solution_end} - {""})
    return {
        "version": SPEC_VERSION,
        "hidden_size": cfg.tiny_hidden_size,
        "layers": cfg.tiny_layers,
        "heads": max(1, cfg.tiny_hidden_size // 16),
        "max_positions": max(64, cfg.max_seq_length),
        "tags": tags,
        "chars": "".join(CHARS),
        "seed": 1234,
    }


def cache_root() -> Path:
    env = os.environ.get("GRPO_TUI_CACHE")
    return Path(env).expanduser() if env else cache_home()


def tiny_path(cfg: RunConfig) -> Path:
    spec = tiny_spec(cfg)
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    return cache_root() / "tiny-models" / f"tiny-{digest}"


def build_tokenizer(spec: dict):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = [PAD, BOS, EOS, UNK]
    vocab_list = specials + list(spec["tags"]) + list(spec["chars"])
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(vocab_list))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # Tags are whole tokens; everything else is one token per character.
    tag_alt = "|".join(_re_escape(t) for t in sorted(spec["tags"], key=len, reverse=True))
    pattern = f"{tag_alt}|." if tag_alt else "."
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        model_max_length=spec["max_positions"], padding_side="left",
    )
    fast.add_special_tokens({"additional_special_tokens": []})
    return fast


def _re_escape(s: str) -> str:
    import re

    return re.escape(s)


def build_model(spec: dict, vocab_size: int, pad_id: int, bos_id: int, eos_id: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(spec["seed"])
    h = spec["hidden_size"]
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=h, intermediate_size=2 * h, num_hidden_layers=spec["layers"],
        num_attention_heads=spec["heads"], num_key_value_heads=spec["heads"],
        max_position_embeddings=spec["max_positions"], tie_word_embeddings=True,
        pad_token_id=pad_id, bos_token_id=bos_id, eos_token_id=eos_id,
    )
    return LlamaForCausalLM(config)


def ensure_tiny(cfg: RunConfig) -> Path:
    """Build (once) and return the folder holding the tiny model and tokenizer."""
    path = tiny_path(cfg)
    if (path / "spec.json").is_file():
        return path
    spec = tiny_spec(cfg)
    private_dir(path.parent)
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tok = build_tokenizer(spec)
    model = build_model(spec, len(tok), tok.pad_token_id, tok.bos_token_id, tok.eos_token_id)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / "spec.json").write_text(json.dumps(spec, indent=2))  # written last: marks a complete build
    try:
        os.rename(tmp, path)
    except OSError:  # another process finished first: use theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return path
