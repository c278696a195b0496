"""Storydesk on Slack: slash commands, story cards, modals and the outbox transport."""
