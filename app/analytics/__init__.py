"""Portfolio analytics over plain dataclasses and numpy arrays (no database, no I/O).

Money enters and leaves as ``int`` satoshis and ``Decimal`` fiat; float64 is used only inside the
ratio maths (returns, volatility, drawdown). The formulas are documented in ``docs/analytics.md``.
"""
