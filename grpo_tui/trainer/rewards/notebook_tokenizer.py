"""The tokenizer facts a copied notebook reward may use: ``tokenizer.eos_token`` and
``tokenizer.get_added_vocab()``.

Unsloth's notebooks build a reward's regex with ``re.escape(tokenizer.eos_token)`` as an optional
tail (``(?:<eos>)?``), and DeepSeek-R1-0528-Qwen3's finds its reasoning tags by looping over
``tokenizer.get_added_vocab()``. A copied rewards file has no tokenizer, so `grpo-tui import` gives it
this stand-in, which reads the model's own tokenizer files (no transformers import):

- ``eos_token``: the EOS text, else "" when the files are not here. Either way the reward scores as in
  the notebook under TRL 1.15, which decodes completions with ``skip_special_tokens=True``: the EOS
  text never reaches a reward.
- ``get_added_vocab()``: {token text: id}, in id order as transformers gives it. The files come from a
  local folder or the hub cache, else are fetched once. When that fails it gives {} (so the copied
  file still imports and the notebook's other rewards still run), and every reward the importer
  marked as reading those tokens (``needs_vocab``) raises when called, naming the model: the tags
  cannot be guessed without changing what the reward pays.

Any other attribute is refused by name, so a reward needing more is not silently changed.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path


class TokenizerFacts:
    def __init__(self, model: str) -> None:
        self.model = model
        self.eos_token = _eos(model)
        self.vocab_missing = ""
        self._vocab: dict[str, int] | None = None

    def get_added_vocab(self) -> dict[str, int]:
        if self._vocab is None:  # read once: a notebook may loop over it more than once
            try:
                self._vocab = added_vocab(self.model)
            except RuntimeError as e:
                self.vocab_missing = str(e)
                self._vocab = {}
        return dict(self._vocab)

    def needs_vocab(self, fn):
        """``fn`` as it is when the added tokens were read; else a reward that raises saying why."""
        if not self.vocab_missing:
            return fn
        why = self.vocab_missing

        @functools.wraps(fn)
        def refuse(*args, **kwargs):
            raise RuntimeError(why)

        return refuse

    def __getattr__(self, name: str):  # only called for attributes not set above
        raise AttributeError(f"the copied rewards' tokenizer stand-in knows eos_token and get_added_vocab() only, "
                             f"not {name!r} (grpo-tui import): fill the value in by hand")


def _eos(model: str) -> str:
    from .trl_call import tokenizer_file

    path = tokenizer_file(model, "tokenizer_config.json") if model else None  # "": not the current folder
    if path is None:
        return ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    eos = data.get("eos_token") if isinstance(data, dict) else None
    if isinstance(eos, dict):
        eos = eos.get("content")
    return eos if isinstance(eos, str) else ""


def added_vocab(model: str) -> dict[str, int]:
    """The added tokens of ``model``'s tokenizer (tokenizer.json's ``added_tokens``, else
    tokenizer_config.json's ``added_tokens_decoder``), sorted by id."""
    if not model:
        raise RuntimeError("the copied rewards read the model's added tokens (the notebook loops over "
                           "tokenizer.get_added_vocab()), and no model is named: write the notebook's model into "
                           "TokenizerFacts(...) in the rewards file")
    found: dict[int, str] = {}
    read: list[str] = []
    for name in ("tokenizer.json", "tokenizer_config.json"):
        path = _file(model, name)
        if path is None:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise RuntimeError(f"cannot read {path}: {e}") from e
        if not isinstance(data, dict):
            raise RuntimeError(f"cannot read {path}: not a JSON object (a {type(data).__name__})")
        read.append(str(path))
        entries = data.get("added_tokens") if name == "tokenizer.json" else data.get("added_tokens_decoder")
        if name == "tokenizer.json":
            for t in entries if isinstance(entries, list) else []:
                if isinstance(t, dict) and isinstance(t.get("id"), int) and isinstance(t.get("content"), str):
                    found[t["id"]] = t["content"]
        else:
            for k, t in (entries.items() if isinstance(entries, dict) else []):
                if str(k).isdigit() and isinstance(t, dict) and isinstance(t.get("content"), str):
                    found.setdefault(int(k), t["content"])
        if found:
            return {text: i for i, text in sorted(found.items())}
    if read:
        raise RuntimeError(f"the copied rewards read {model}'s added tokens (the notebook loops over "
                           f"tokenizer.get_added_vocab()), and its tokenizer files ({', '.join(read)}) list none: "
                           "the tags it picks from them are unset")
    where = "the local folder has no tokenizer.json or tokenizer_config.json" if Path(model).expanduser().is_dir() \
        else "its tokenizer files are neither here nor fetchable: run once with the hub reachable (or use a local " \
             "model folder)"
    raise RuntimeError(f"the copied rewards read {model}'s added tokens (the notebook loops over "
                       f"tokenizer.get_added_vocab()), and {where}")


def _file(model: str, name: str) -> Path | None:
    from .trl_call import tokenizer_file

    path = tokenizer_file(model, name)
    if path is not None or Path(model).expanduser().is_dir():
        return path
    from ..hub import hub_reachable

    if not hub_reachable():  # one 3 s connect, not huggingface_hub's five retries a file
        return None
    try:  # the hub: one small file, cached for next time
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(model, name, etag_timeout=5))
    except Exception:
        return None
