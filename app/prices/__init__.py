"""Bitcoin price providers: bundled offline history, live HTTP providers and a fallback chain."""
