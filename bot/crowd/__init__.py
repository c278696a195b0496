"""Crowd health: the `/story stats`, profile, feature and impact subcommands, their charts,
and the crowd jobs (monthly stats, kind nudges)."""
