"""What the app does with registries. Nothing in this package imports Textual."""
