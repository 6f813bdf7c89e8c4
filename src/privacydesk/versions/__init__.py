"""Published policy versions: immutable, numbered, compared with each other."""
