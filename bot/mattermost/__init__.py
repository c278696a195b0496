"""The Mattermost adapter: REST API v4 client, renderer, transport, endpoints and setup."""
