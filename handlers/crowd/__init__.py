"""Crowd health: who contributes, the balance of objectives and formats against targets,
kind nudges for members not heard from, opt-in profiles and the people featured, and each
contributor's impact statement.

`decisions` holds the pure rules (unit-tested without a database); `stats`, `profile`,
`impact` and `nudges` read and write through the session like every other handler.
"""
