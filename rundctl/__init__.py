"""rundctl: create and inspect runs of Microsoft Graph industry-data flows."""

__version__ = "0.1.0"
