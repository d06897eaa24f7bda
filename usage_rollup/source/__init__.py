"""The bundled platform tables: an optional app for a project whose database has none yet."""
