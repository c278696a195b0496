"""The console: Storydesk in a terminal, the demo, and replies rendered as plain text."""
