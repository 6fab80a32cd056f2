"""Pure functions from models to display values. Nothing here imports Textual."""
