"""Identity: users, credentials, sessions, roles (being built; see issue 4)."""
