"""mbf devchain: a simulated regtest chain served over Esplora REST and the Electrum protocol.

Development tooling only: production code never imports this package.
"""
