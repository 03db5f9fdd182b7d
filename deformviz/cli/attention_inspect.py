"""`deformviz inspect FOLDER` for deformable-attention networks: every attention layer with its
heads, levels, points per level and d_model (measured by one pass on a blank image through
the network's own preprocessing), and what the model outputs."""

from __future__ import annotations

__all__ = ["describe_attention_layers", "BLANK_SIZE"]

#: (H, W) of the blank image the attention probe runs on (the processor resizes it).
BLANK_SIZE = (480, 640)


def _d_model(module: object) -> str:
    for name in ("d_model", "embed_dims", "embed_dim"):
        if isinstance(getattr(module, name, None), int):
            return str(getattr(module, name))
    value = getattr(module, "value_proj", None)
    return str(value.in_features) if hasattr(value, "in_features") else "?"


def describe_attention_layers(network: object) -> list[str]:
    """One table row per attention layer of `network` (a `Network` whose layers are
    multi-scale deformable attention modules): name, short name, stage and role, heads,
    levels, points per level, d_model, queries and the levels' sizes on the blank input."""
    import numpy as np

    from deformviz.imaging import LoadedImage
    from deformviz.probe import probe_attention

    image = LoadedImage(np.zeros((*BLANK_SIZE, 3), np.uint8), "blank")
    prepared = network.preprocessing.prepare(image)  # type: ignore[attr-defined]
    module = network.module  # type: ignore[attr-defined]
    tensor = prepared.tensor.to(next(module.parameters()).device)
    probed = probe_attention(module, tensor)
    index = probed.index
    header = ("layer", "name", "stage", "heads", "levels", "points/level", "d_model",
              "queries", "level sizes (cells)")
    rows = [header]
    for record in probed.records:
        label = index.label(record.name)
        rows.append((record.name, label if label != record.name else "-",
                     f"{record.stage} ({record.role})", str(record.heads), str(record.levels),
                     _points(record.level_points), _d_model(module.get_submodule(record.name.split("#")[0])),
                     str(record.queries),
                     ", ".join(f"{h}x{w}" for h, w in record.spatial_shapes)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in rows]
    height, width = prepared.padded_size
    lines.append(f"  (measured on a blank {BLANK_SIZE[1]} x {BLANK_SIZE[0]} image, model input "
                 f"{width} x {height})")
    lines += [f"  ({note})" for note in probed.notes]
    return lines


def _points(per_level: tuple[int, ...]) -> str:
    """"4" when every level has 4 points, else "3,6,3"."""
    return str(per_level[0]) if len(set(per_level)) == 1 else ",".join(map(str, per_level))
