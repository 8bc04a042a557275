"""Exporters: files that leave changebank."""
