"""Dataset sources: each yields SourceItems (question, answer, ground-truth boxes, image) for generate."""

from sif.autoload import import_submodules

import_submodules(__name__, __path__)
