"""Connectors: one protocol to reach the systems where a person's data lives (SQL, files, webhooks, manual work)."""
