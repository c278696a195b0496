"""The console adapter: Storydesk without any chat workspace.

Reads commands line by line, runs them through the very same grammar, handlers and outbox
as chat, prints the reply, then every message the bot sends, labelled by where it goes:
`[#team]`, `[DM @ben]`. `/as NAME` switches the acting member, `:advance 2d` moves a
simulated clock and runs the ticks and the dispatcher on the way.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TextIO

from bot.commands import Caller
from bot.console.render_text import render_text
from bot.delivery.scheduler import SimulatedClock
from bot.delivery.transport import Delivery, SendResult
from bot.runtime import Runtime
from handlers import operations
from storage.db import read_session

CONSOLE_HELP = """\
Type a command as you would in chat:
  /pitch <title> [#objective] [#format] [-- summary]
  /story help            every /story subcommand
Console only:
  /as NAME               act as NAME (a new name becomes a member)
  :advance 2d            move the clock forward (d, h or m) and run what falls due
  :now                   show the simulated time
  :help                  this text;  :quit  leaves (so does end of input)"""

_ADVANCE = re.compile(r"^(\d{1,4})\s*([dhm])$")
MAX_ADVANCE = timedelta(days=400)
TICK_STEP = timedelta(hours=1)


@dataclass
class ConsoleTransport:
    """Prints what would be sent, labelled by destination."""

    out: TextIO
    platform: str = "console"
    team_label: str = "#team"
    group_label: str = "#group"
    sent: list[Delivery] = field(default_factory=list)

    def send(self, delivery: Delivery) -> SendResult:
        if delivery.recipient is not None:
            label = f"[DM @{delivery.recipient.display_name}]"
        else:
            label = f"[{self.team_label if delivery.channel == 'team' else self.group_label}]"
        if delivery.kind == "card" and delivery.card is not None:
            label += " (card updated)"
        if delivery.late:
            label += " (late)"
        body = render_text(delivery.reply)
        self.out.write(f"{label} " + body.replace("\n", "\n    ") + "\n")
        # Flushed at once, like the reply: through a pipe the messages a command causes
        # would otherwise come long after it, or only at the end.
        self.out.flush()
        self.sent.append(delivery)
        channel = (
            delivery.channel or f"dm-{delivery.recipient.user_id if delivery.recipient else ''}"
        )
        return SendResult(message_id=f"console-{delivery.outbound_id}", channel_id=channel)


class Console:
    def __init__(self, runtime: Runtime, actor: str, now: datetime, out: TextIO) -> None:
        self.runtime = runtime
        self.actor = Caller("console", actor.lower(), actor)
        self.now = now
        self.out = out
        with read_session(runtime.engine) as session:  # held ones are told once, when new
            self.told_up_to = operations.newest_outbound_id(session)

    def handle(self, line: str) -> bool:
        """Run one input line; False when the console should stop."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if line in {":quit", ":q", ":exit"}:
            return False
        if line == ":help":
            self.say(CONSOLE_HELP)
        elif line == ":now":
            zone = self.runtime.policy.zone
            self.say(
                f"It is {self.now.astimezone(zone):%a %Y-%m-%d %H:%M} "
                f"({self.runtime.policy.timezone})."
            )
        elif line.startswith(":advance"):
            self.advance(line[len(":advance") :].strip())
        elif line.startswith("/as"):
            self.switch(line[3:].strip())
        elif line.startswith("/pitch") or line.startswith("/story"):
            command, _, text = line[1:].partition(" ")
            if command not in {"pitch", "story"}:
                self.say(f"Unknown command {line.split()[0][:30]}; try /story help or :help.")
                return True
            reply = self.runtime.runner.run(self.actor, command, text, self.now)
            if reply.form == "pitch":
                self.say(
                    "In chat, /pitch alone opens a form. Here, type the pitch on one line:\n"
                    "  /pitch <title> [#objective] [#format] [-- summary]"
                )
            else:
                self.say(render_text(reply))
            self.deliver()
        else:
            self.say("Commands start with /pitch, /story, /as or : (try :help).")
        return True

    def switch(self, name: str) -> None:
        if not re.fullmatch(r"[\w.\-]{1,40}", name):
            self.say("Usage: /as NAME (letters, digits, . _ -; up to 40)")
            return
        self.actor = Caller("console", name.lower(), name)
        self.say(f"You are now {name}.")

    def advance(self, amount: str) -> None:
        match = _ADVANCE.match(amount)
        if not match:
            self.say("Usage: :advance 2d  (or 6h, 30m)")
            return
        count, unit = int(match.group(1)), match.group(2)
        step = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}[unit]
        delta = count * step
        if delta > MAX_ADVANCE:
            self.say("That is too far; advance at most 400 days at a time.")
            return
        target = self.now + delta
        clock = SimulatedClock(self.runtime)
        while self.now < target:
            self.now = clock.next(self.now, target, TICK_STEP)
            self.runtime.tick(self.now)
        zone = self.runtime.policy.zone
        self.say(f"It is now {self.now.astimezone(zone):%a %Y-%m-%d %H:%M}.")

    def deliver(self) -> None:
        """Send what is due, and say which new direct messages wait for their recipient:
        in chat they would arrive then (`:advance` gets there)."""
        self.runtime.dispatcher.dispatch_due(self.now)
        with read_session(self.runtime.engine) as session:
            held = operations.held_direct_messages(session, self.now, self.told_up_to)
            self.told_up_to = max([self.told_up_to, *(entry.id for entry in held)])
        zone = self.runtime.policy.zone
        for entry in held:
            self.say(f"[{entry.to}, waiting until {entry.due_at.astimezone(zone):%a %d %b %H:%M}]"
                     f" {entry.text}")

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def run_console(
    runtime: Runtime,
    actor: str,
    lines: Iterable[str] | None = None,
    out: TextIO | None = None,
    now: datetime | None = None,
    intro: str = "",
) -> int:
    out = out or sys.stdout
    console = Console(runtime, actor, now or datetime.now(UTC), out)
    interactive = lines is None and sys.stdin.isatty()
    if intro:
        console.say(intro)
    if interactive:
        _enable_line_editing()
        console.say(f"Storydesk console, acting as {actor}. :help for help, :quit to leave.")
    source = lines if lines is not None else _input_lines(interactive, console)
    for line in source:
        if not console.handle(line):
            break
    return 0


def _input_lines(interactive: bool, console: Console) -> Iterable[str]:
    if not interactive:
        yield from sys.stdin
        return
    while True:
        try:
            yield input(f"{console.actor.display_name}> ")
        except EOFError:
            console.say("")
            return
        except KeyboardInterrupt:
            console.say("")
            return


def _enable_line_editing() -> None:
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (importing it turns on line editing for input())
