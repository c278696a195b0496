"""Where Mattermost reaches Storydesk, below STORYDESK_PUBLIC_URL."""

COMMAND_PATH = "/mattermost/command"
DIALOG_PATH = "/mattermost/dialog"
ACTION_PATH = "/mattermost/action"
