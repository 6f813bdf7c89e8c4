"""The HTTP service: JSON API, pages, health and metrics."""
