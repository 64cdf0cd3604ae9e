"""Security primitives shared by the contexts: password hashing (keys and encryption later)."""
