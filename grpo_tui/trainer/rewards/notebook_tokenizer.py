"""The one tokenizer fact a copied notebook reward may use: ``tokenizer.eos_token``.

Unsloth's notebooks build a reward's regex with ``re.escape(tokenizer.eos_token)`` as an optional
tail (``(?:<eos>)?``). A copied rewards file has no tokenizer, so `grpo-tui import` gives it this
stand-in: the model's EOS text read from its tokenizer files when they are on this machine (no
transformers import), else "". Either way the reward scores as in the notebook under TRL 1.15,
which decodes completions with ``skip_special_tokens=True``: the EOS text never reaches a reward.
Any other attribute is refused by name, so a reward needing more is not silently changed.
"""

from __future__ import annotations

import json


class TokenizerFacts:
    def __init__(self, model: str) -> None:
        self.model = model
        self.eos_token = _eos(model)

    def __getattr__(self, name: str):  # only called for attributes not set above
        raise AttributeError(f"the copied rewards' tokenizer stand-in knows eos_token only, not {name!r} "
                             f"(grpo-tui import): fill the value in by hand")


def _eos(model: str) -> str:
    from .trl_call import tokenizer_file

    path = tokenizer_file(model, "tokenizer_config.json")
    if path is None:
        return ""
    try:
        eos = json.loads(path.read_text(encoding="utf-8")).get("eos_token") or ""
    except (OSError, ValueError):
        return ""
    return eos.get("content", "") if isinstance(eos, dict) else str(eos)
