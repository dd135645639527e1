"""The chain-length histogram PNG of a generate run."""

from __future__ import annotations

from pathlib import Path

from sif.io import atomic_path


def write_chain_length_histogram(counts: dict[int, int], path: Path, title: str = "chain length") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths = sorted(counts)
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    ax.bar([str(n) for n in lengths], [counts[n] for n in lengths], color="#3b7dd8")
    ax.set_xlabel("areas per chain")
    ax.set_ylabel("samples")
    ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
