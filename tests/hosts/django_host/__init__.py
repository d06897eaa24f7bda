"""A host that owns the platform's tables through its own Django models, with Django's default
foreign keys: DEFERRABLE INITIALLY DEFERRED, no ON DELETE action in the database (Django's
collector cascades in Python)."""
