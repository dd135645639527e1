"""Stages: each module registers one class in sif.registry.STAGES under the name `stage=` uses."""

from sif.autoload import import_submodules

import_submodules(__name__, __path__)
