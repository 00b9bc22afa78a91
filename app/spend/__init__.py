"""Spending from watch-only wallets: fee estimates, coin selection, PSBTs, broadcast, fee bumps.

The server never holds a private key: it builds unsigned PSBTs, reads signed ones back, finalizes
and broadcasts them (see docs/spending.md).
"""
