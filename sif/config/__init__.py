"""Typed structured configs. Every YAML option of a group starts from its group's schema here, so a
misspelled key or a wrong type fails at compose time, before any work, with Hydra naming the key."""

from sif.config.store import register_configs

__all__ = ["register_configs"]
