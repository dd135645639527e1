"""Data generation: reverse expansion (focus chains) and forward inference (teachers)."""

from sif.autoload import import_submodules

import_submodules(__name__, __path__)
