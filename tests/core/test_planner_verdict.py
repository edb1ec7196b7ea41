"""The planner's verdict against its written rule (docs/planner.md), with the rule's numbers written
here, not read from the implementation: ``fits`` when headroom >= max(1.25 GiB, 5% of the card) and
the KV cache holds two groups; ``tight`` when 0 <= headroom < that margin (or the KV cache is
smaller); ``no`` when headroom < 0. Probed every 0.05 GiB across the cards, so each boundary is
crossed many times (the total itself moves with the card: vLLM's standby share scales with it)."""

from __future__ import annotations

import pytest

from grpo_tui.core.settings.config import RunConfig
from grpo_tui.core.planning.planner import plan
from test_planner import CI_FIT, CI_OOM, UNSLOTH

MARGIN_GB, MARGIN_FRACTION = 1.25, 0.05  # docs/planner.md, "Verdict"

# the published T4 set-ups (test_planner.py): the one that fitted, and the notebook's that OOMed
SMALL, LARGE = CI_FIT, CI_OOM
CARDS = [round(4.0 + i * 0.05, 2) for i in range(int((50.0 - 4.0) / 0.05) + 1)]


def _sweep(kw: dict) -> list[tuple[float, object]]:
    c = RunConfig(**kw).validate()
    return [(v, plan(c, v)) for v in CARDS]


@pytest.mark.parametrize("kw", [SMALL, LARGE], ids=["small", "large"])
def test_every_verdict_follows_the_written_rule(kw):
    seen = set()
    for vram, p in _sweep(kw):
        margin = max(MARGIN_GB, MARGIN_FRACTION * vram)
        assert p.headroom == pytest.approx(vram - p.total, abs=1e-9), vram
        if p.headroom < 0:
            want = "no"
        elif p.headroom < margin:
            want = "tight"
            assert any(f"fits wants {margin:.2f}" in r for r in p.reasons), (vram, p.reasons)
        elif any("KV cache holds" in r for r in p.reasons):
            want = "tight"
        else:
            want = "fits"
        assert p.verdict == want, (vram, p.total, p.headroom, p.verdict, p.reasons)
        seen.add(want)
    assert seen >= {"no", "tight", "fits"}


def test_both_clauses_of_the_margin_decide_somewhere():
    """The sweep reaches a card where 1.25 GiB decides (a fit just above it) and one where 5% of the
    card decides (more than 1.25 GiB spare, still tight): neither clause can change unseen."""
    fixed = fraction = False
    for kw in (SMALL, LARGE):
        for vram, p in _sweep(kw):
            if p.verdict == "fits" and MARGIN_GB <= p.headroom < MARGIN_GB + 0.06:
                fixed = True
            if p.verdict == "tight" and MARGIN_GB < p.headroom < MARGIN_FRACTION * vram:
                fraction = True
    assert fixed and fraction


def test_no_gpu_is_its_own_verdict():
    p = plan(RunConfig(**SMALL).validate(), None)
    assert p.verdict == "no-gpu" and p.reasons[-1] == "no GPU to plan for (give --vram or --gpu)"


# Plain TRL without vLLM: the total does not move with the card, so a boundary can be hit exactly.
TRL = dict(UNSLOTH, backend="trl", fast_inference=False, use_vllm=False, load_in_4bit=False,
           max_seq_length=1024, max_completion_length=768, num_generations=2, per_device_train_batch_size=2)


def _card_with_headroom(c: RunConfig, headroom: float) -> float:
    """A card size whose computed headroom is exactly ``headroom`` (stepping by one ulp if needed)."""
    import math

    total = plan(c, 40.0).total
    vram = total + headroom
    for _ in range(8):
        h = plan(c, vram).headroom
        if h == headroom:
            return vram
        vram = math.nextafter(vram, math.inf if h < headroom else -math.inf)
    raise AssertionError(f"no card with headroom exactly {headroom}")


def test_the_boundaries_themselves():
    c = RunConfig(**TRL).validate()
    total = plan(c, 40.0).total
    assert plan(c, 20.0).total == total  # the premise: the card does not change the estimate
    at_zero = plan(c, _card_with_headroom(c, 0.0))
    assert at_zero.verdict == "tight"  # 0 <= headroom: it fits, without the margin
    assert at_zero.reasons == ["only 0.00 GiB spare (fits wants 1.25)"]
    at_margin = plan(c, _card_with_headroom(c, MARGIN_GB))
    assert at_margin.verdict == "fits" and at_margin.reasons == []
    short = plan(c, total - 0.5)
    assert short.verdict == "no"
    assert short.reasons == [f"needs about {total:.1f} GiB, the GPU has {total - 0.5:.1f} GiB"]


def test_a_small_kv_cache_makes_a_roomy_plan_tight():
    kw = dict(SMALL, vllm_standby=False, gpu_memory_utilization=0.3, num_generations=16,
              per_device_train_batch_size=16, max_seq_length=2048, max_completion_length=1792)
    p = plan(RunConfig(**kw).validate(), 24.0)
    assert p.headroom > max(MARGIN_GB, MARGIN_FRACTION * 24.0)  # room enough: the KV cache decides
    assert p.verdict == "tight" and len(p.reasons) == 1
    assert p.reasons[0].startswith(f"vLLM's KV cache holds {p.kv_tokens} tokens, less than ")
