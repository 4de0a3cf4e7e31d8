"""The subcommands of `python -m bot`, one module each."""
