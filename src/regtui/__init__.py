"""regtui: a terminal dashboard for container image registries."""

__version__ = "0.1.0"
