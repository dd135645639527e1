"""The zoom tests use the fast-path tests' module-scoped tiny model (a real processor and chat template)."""

from tests.fastgen.conftest import tiny  # noqa: F401 - a fixture, made visible to tests/zoom
