"""Consent: records that prove it, the current state per person and purpose, and the checks apps ask."""
