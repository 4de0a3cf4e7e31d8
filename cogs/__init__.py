"""Discord-facing extensions. Each module is one extension; they only translate to and from `bot/`."""
