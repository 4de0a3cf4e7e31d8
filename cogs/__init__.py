"""Discord-facing extensions: one module per extension, translating to and from `bot/`."""
