"""Django's SQLite backend, with this process's writers taking turns on a lock.

Use it as ENGINE ``editor.db`` (the settings do when DATABASE_URL is not set).
"""
