"""The small shared base every app may import: errors, JSON parsing and rendering, pagination,
money, database and Redis helpers. It imports no app and nothing from ``config``."""
