"""The Textual dashboard. The only package in regtui that imports Textual."""
