"""Reach: the Instagram Graph API client and fetch, CSV import, the reach jobs, charts, the
`/story reach` subcommands and the publication watch."""
