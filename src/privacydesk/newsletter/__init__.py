"""Newsletters: double opt-in subscriptions, issues sent only with consent, one-click unsubscribe."""
