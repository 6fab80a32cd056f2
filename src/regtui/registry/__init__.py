"""Talking to registries. Nothing in this package imports Textual."""
