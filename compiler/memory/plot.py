"""A picture of a memory plan: buffers as rectangles over time (x) and address (y), one panel per region."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tinyc.errors import TinycError
from tinyc.memory.liveness import BufferKind

if TYPE_CHECKING:
    from tinyc.memory.planner import MemoryPlan

_COLORS = {
    BufferKind.ACTIVATION: "#4C72B0",
    BufferKind.INPUT: "#55A868",
    BufferKind.OUTPUT: "#C44E52",
    BufferKind.SCRATCH: "#DD8452",
}


def plot_plan(plan: MemoryPlan, path: str | Path, *, title: str | None = None) -> Path:
    """Draw ``plan`` into an image file (PNG, SVG or PDF by suffix) with matplotlib's Agg backend."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch, Rectangle
    except ImportError:
        raise TinycError("drawing the memory plan needs matplotlib", hint="pip install 'tinyc[plot]'") from None

    panels = [rp for rp in plan.regions.values() if rp.buffers]
    steps = max(len(plan.order), 1)
    fig, axes = plt.subplots(len(panels) or 1, 1, figsize=(10, 2.8 * max(len(panels), 1) + 0.6), squeeze=False)
    for ax, rp in zip(axes[:, 0], panels):
        top = max(rp.arena_bytes, 1)
        for b in rp.buffers:
            off = plan.offsets[b.id].offset
            ax.add_patch(Rectangle((b.first, off), b.lifetime, b.size, facecolor=_COLORS[b.kind], edgecolor="black", linewidth=0.4, alpha=0.85))
            if b.size >= 0.06 * top and b.lifetime >= max(1, steps // 25):
                ax.text(b.first + b.lifetime / 2, off + b.size / 2, b.name[:18], ha="center", va="center", fontsize=6, color="white")
        ax.axhline(rp.lower_bound, color="black", linestyle="--", linewidth=0.8, label=f"lower bound {rp.lower_bound:,} B")
        ax.set_xlim(0, steps)
        ax.set_ylim(0, top * 1.05)
        ax.set_ylabel("offset (bytes)")
        ax.set_title(f"{rp.name}: arena {rp.arena_bytes:,} B of {rp.capacity - rp.weights_bytes:,} B free for activations", fontsize=9)
        ax.legend(loc="upper right", fontsize=7)
    if not panels:
        axes[0, 0].text(0.5, 0.5, "no activation buffers", ha="center", va="center")
    axes[-1, 0].set_xlabel("step (operator in schedule order)")
    handles = [Patch(color=c, label=k.value) for k, c in _COLORS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
    fig.suptitle(title or f"memory plan for {plan.target.name}: {plan.activation_bytes:,} B (bound {plan.lower_bound:,} B)", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
