"""A one-line memory bar: a plan's split against the GPU's (or RAM's) capacity.

Each part has its own glyph as well as its own colour, so the split stays
readable on a 16-colour terminal and with NO_COLOR. Line two is the legend
with the figures in GiB and the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

# (group key from planner.Plan.groups(), legend label, glyph, component class)
SEGMENTS = (
    ("weights", "weights", "█", "memory-bar--weights"),
    ("training", "training", "▓", "memory-bar--training"),
    ("vllm_kv", "vLLM+KV", "▒", "memory-bar--vllm"),
    ("overhead", "runtime", "▚", "memory-bar--overhead"),
)
HEADROOM_GLYPH = "░"
VERDICT_STYLE = {"fits": "memory-bar--fits", "tight": "memory-bar--tight", "no": "memory-bar--no",
                 "cpu": "memory-bar--fits", "no-gpu": "memory-bar--no"}


@dataclass(frozen=True)
class BarData:
    groups: dict[str, float]  # GiB per segment key (+ "headroom")
    capacity: float | None  # GiB the bar spans (GPU total, or RAM); None: scale to the total
    verdict: str  # fits | tight | no | cpu | no-gpu
    where: str = "GPU"  # what the capacity is ("GPU", "free RAM", "RAM")

    @property
    def used(self) -> float:
        return sum(v for k, v in self.groups.items() if k != "headroom")


def split_cells(values: list[float], scale: float, width: int) -> list[int]:
    """Cells per value so they sum to round(sum/scale*width) (largest remainder), no part of >0 lost."""
    if scale <= 0 or width <= 0:
        return [0] * len(values)
    exact = [max(0.0, v) / scale * width for v in values]
    cells = [int(x) for x in exact]
    target = min(width, round(sum(exact)))
    order = sorted(range(len(values)), key=lambda i: exact[i] - cells[i], reverse=True)
    for i in order:
        if sum(cells) >= target:
            break
        cells[i] += 1
    # a part that exists gets at least one cell when there is room for it
    for i, x in enumerate(exact):
        if x > 0 and cells[i] == 0 and sum(cells) < width:
            cells[i] = 1
    while sum(cells) > width:
        j = max(range(len(cells)), key=lambda i: cells[i])
        cells[j] -= 1
    return cells


class MemoryBar(Widget):
    DEFAULT_CSS = """
    MemoryBar { height: 2; width: 1fr; }
    MemoryBar > .memory-bar--weights { color: $primary; }
    MemoryBar > .memory-bar--training { color: $secondary; }
    MemoryBar > .memory-bar--vllm { color: $accent; }
    MemoryBar > .memory-bar--overhead { color: $foreground-muted; }
    MemoryBar > .memory-bar--headroom { color: $foreground-muted; }
    MemoryBar > .memory-bar--over { color: $error; text-style: bold; }
    MemoryBar > .memory-bar--fits { color: $success; text-style: bold; }
    MemoryBar > .memory-bar--tight { color: $warning; text-style: bold; }
    MemoryBar > .memory-bar--no { color: $error; text-style: bold; }
    """
    COMPONENT_CLASSES = {
        "memory-bar--weights", "memory-bar--training", "memory-bar--vllm", "memory-bar--overhead",
        "memory-bar--headroom", "memory-bar--over", "memory-bar--fits", "memory-bar--tight", "memory-bar--no",
    }

    data: reactive[BarData | None] = reactive(None, layout=False)
    message: reactive[str] = reactive("")

    def render(self) -> Text:
        data = self.data
        if data is None:
            return Text(self.message or "no plan yet", style="dim")
        width = max(10, self.size.width)
        style = self.get_component_rich_style
        used = data.used
        capacity = data.capacity if data.capacity else used
        scale = max(capacity, used) or 1.0
        parts = [data.groups.get(k, 0.0) for k, *_ in SEGMENTS]
        cells = split_cells(parts, scale, width)
        bar = Text()
        for (key, _label, glyph, cls), n in zip(SEGMENTS, cells):
            bar.append(glyph * n, style(cls))
        rest = width - sum(cells)
        if data.capacity:
            cap_cells = min(width, round(capacity / scale * width))
            free = max(0, cap_cells - sum(cells))
            bar.append(HEADROOM_GLYPH * free, style("memory-bar--headroom"))
            if used > capacity:  # over: mark where the card ends
                bar = bar[:cap_cells]
                bar.append("✗" * (width - cap_cells), style("memory-bar--over"))
            rest = width - bar.cell_len
        bar.append(" " * max(0, rest))
        # totals and verdict first: on a narrow terminal the legend's tail is what gets cut
        legend = Text()
        verdict_style = style(VERDICT_STYLE.get(data.verdict, "memory-bar--no"))
        if data.verdict == "cpu":  # a CPU plan: what it needs of the RAM ("CPU · 0.3 of 23.0 GiB free RAM")
            legend.append("CPU", verdict_style)
            of = f" of {data.capacity:.1f}" if data.capacity else ""
            legend.append(f" · {used:.1f}{of} GiB {data.where}  ")
        else:
            if data.capacity:
                legend.append(f"{used:.1f}/{data.capacity:.1f} GiB {data.where} ")
            else:
                legend.append(f"{used:.1f} GiB {data.where} ")
            legend.append(data.verdict, verdict_style)
            legend.append("  ")
        for (key, label, glyph, cls), value in zip(SEGMENTS, parts):
            if value <= 0:
                continue
            legend.append(glyph, style(cls))
            legend.append(f" {label} {value:.1f}  ")
        if data.capacity:
            head = data.capacity - used
            legend.append(HEADROOM_GLYPH, style("memory-bar--headroom"))
            legend.append(f" {'free' if head >= 0 else 'over'} {abs(head):.1f}")
        legend.truncate(width, overflow="ellipsis")
        return Text("\n").join([bar, legend])
