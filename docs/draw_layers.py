"""Draw docs/layers.png from the layer table that tests/test_layering.py checks (matplotlib).

    python docs/draw_layers.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_layering import DEPLOYABLE, LAYERS  # noqa: E402

DEPLOYABLE_COLOUR, OTHER_COLOUR = "#cfe3f6", "#f8dfc4"


def package_label(package: str) -> str:
    """``lgmpose.codecs`` -> ``codecs/``, ``lgmpose.errors`` -> ``errors`` (a module)."""
    if package == "lgmpose":
        return "lgmpose/__init__"
    name = package.split(".", 1)[1]
    return f"{name}/" if (ROOT / "lgmpose" / name).is_dir() else name


def draw(out: Path) -> None:
    rows = len(LAYERS)
    fig, ax = plt.subplots(figsize=(12, 0.42 * rows + 0.9))
    ax.set_xlim(0, 12)
    ax.set_ylim(-0.9, rows)
    ax.axis("off")
    for row, (layer, packages, what) in enumerate(LAYERS):
        colour = DEPLOYABLE_COLOUR if layer in DEPLOYABLE else OTHER_COLOUR
        ax.text(1.45, row + 0.4, layer, ha="right", va="center", fontsize=10, weight="bold")
        width = min(2.3, 4.6 / len(packages) - 0.05)
        for i, package in enumerate(packages):
            x = 1.6 + i * (width + 0.05)
            ax.add_patch(FancyBboxPatch((x, row + 0.1), width, 0.6, facecolor=colour,
                                        edgecolor="#555555",
                                        boxstyle="round,pad=0,rounding_size=0.08"))
            ax.text(x + width / 2, row + 0.4, package_label(package), ha="center", va="center",
                    fontsize=8.5 if width > 1 else 7.5, family="monospace")
        ax.text(6.45, row + 0.4, what, ha="left", va="center", fontsize=8.5, color="#333333")
    ax.add_patch(FancyArrowPatch((0.25, rows - 0.3), (0.25, 0.2), arrowstyle="-|>",
                                 mutation_scale=18, color="#555555"))
    ax.text(0.12, rows / 2, "imports point down", rotation=90, ha="center", va="center",
            fontsize=9, color="#555555")
    for x, colour, text in ((1.6, DEPLOYABLE_COLOUR, "deployable: no torch at import time"),
                            (5.0, OTHER_COLOUR,
                             "may import torch: networks, training, tools, apps")):
        ax.add_patch(FancyBboxPatch((x, -0.75), 0.35, 0.4, facecolor=colour, edgecolor="#555555",
                                    boxstyle="round,pad=0,rounding_size=0.05"))
        ax.text(x + 0.45, -0.55, text, va="center", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    draw(Path(__file__).with_name("layers.png"))
