"""Backups: one encrypted archive holding a consistent database snapshot (and, with a passphrase,
the key material to read it), and a restore that checks integrity before it replaces anything."""
