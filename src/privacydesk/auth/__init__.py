"""Who may do what: admin users, roles and permissions, API tokens, sessions and login."""
