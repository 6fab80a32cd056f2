"""The dashboard's screens: fleet, registry (repositories + tags), tag detail, help."""
