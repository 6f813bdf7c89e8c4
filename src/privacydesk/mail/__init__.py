"""Outbound mail: rendered per language, stored, and sent through SMTP by a retried job."""
