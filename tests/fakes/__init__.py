"""Test doubles shared by the suite (a local OpenAI-compatible server, ...)."""
