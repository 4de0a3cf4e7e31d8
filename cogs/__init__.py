"""Discord's side of the bot: one extension per area (a package when it has more than one
module), each registering its own commands, components and listeners in `setup`."""
