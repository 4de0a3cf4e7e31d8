"""Persistence: the interface in `base`, one backend per database (`sqlite`: the default).

`bot.store.connect.open_store(settings)` opens the configured database and migrates it.
"""
