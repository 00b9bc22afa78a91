"""Wallet chain sync, shaped like BDK's request → fetch → apply → persist.

``model`` (refs, stored and view types), ``codec`` (stored tx io), ``scanner`` (fetch: tip, gap
scan, transactions, headers, prevouts), ``view`` (apply: pure), ``persist`` (store reads and
writes), ``jobs`` (the service: requests and jobs), ``watch`` (scheduler and notifications),
``queries`` (the typed read API other areas use).
"""
