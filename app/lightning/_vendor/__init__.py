"""Third-party generated code, kept as generated (excluded from ruff)."""
