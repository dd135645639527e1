"""SIF: a Hydra-configured framework that reproduces and extends SIFThinker."""

__version__ = "0.1.0"
