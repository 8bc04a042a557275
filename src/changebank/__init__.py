"""changebank: from what people say about a service to a prioritised, evaluated list of changes."""

__version__ = "0.1.0"
