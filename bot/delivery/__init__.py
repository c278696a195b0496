"""Delivery: the outbox dispatcher, the tick scheduler, and the Transport contract every
platform implements (the platforms' own transports live in bot/slack/ and bot/mattermost/)."""
