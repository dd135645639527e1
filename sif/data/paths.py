"""Resolving image paths of datasets under a root, refusing `..` escapes unless allowed."""

from __future__ import annotations

from pathlib import Path


class PathEscapeError(ValueError):
    pass


def resolve_under(root: str | Path | None, path: str, allow_escape: bool = False) -> Path:
    """`path` resolved against `root` (relative paths) and checked to stay inside it.

    Absolute paths and paths that leave `root` (via `..` or symlinks) are refused unless `allow_escape`.
    Without a root, relative paths resolve against the working directory and are returned as they are.
    """
    if root is None:
        return Path(path).expanduser().resolve()
    base = Path(root).expanduser().resolve()
    candidate = (base / path).resolve()
    if not allow_escape and candidate != base and base not in candidate.parents:
        raise PathEscapeError(f"path {path!r} leaves the data root {str(base)!r} "
                              "(set dataset.allow_path_escape=true to allow)")
    return candidate
