"""Reach: figures stored from every source, the weekly and audience summaries, a
contributor's impact, and the weekly digest."""
