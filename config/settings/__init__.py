"""Settings: ``base`` holds everything; ``dev``, ``test`` and ``prod`` adjust it.

``DJANGO_SETTINGS_MODULE`` picks one (default ``config.settings.dev``).
Domain knobs live in the ``*_settings`` modules that ``base`` star-imports, so
each app's configuration stays in one short file.
"""
