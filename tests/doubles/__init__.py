"""Test doubles of systems that cannot run here (Harbor), held to their published API specs."""
