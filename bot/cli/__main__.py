"""`python -m bot.cli`: the same command line as the `storydesk` script."""

from bot.cli import main

raise SystemExit(main())
