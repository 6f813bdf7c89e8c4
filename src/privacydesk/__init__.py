"""privacydesk: make a privacy policy true in running systems."""

__version__ = "0.1.0"
