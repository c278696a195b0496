"""What the Docker image, compose file and lock files must keep doing.

These read the files as text (and YAML); they need no Docker. Each check names what would
regress: a root user, a floating base image, dependencies resolved at build time, a build
context that carries .env or the database, a port open to the world, an undocumented
compose variable, a lock file that no longer matches pyproject.toml.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("bot", "handlers", "storage", "config")


# --- reading the files ------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    instructions = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def stages() -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, the ARGs before the first FROM left out."""
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, for an operator's .env."""

    def one(match: re.Match[str]) -> str:
        name, operator, operand = match.group(1), match.group(2), match.group(3)
        given = env.get(name, "")
        if operator == ":-":
            return given or operand
        if operator == ":?" and not given:
            raise KeyError(f"{name}: {operand}")
        return given

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}", one, value)


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        rules.append((negated, re.compile(glob_to_regex(pattern))))
    return rules


def glob_to_regex(pattern: str) -> str:
    """Docker's .dockerignore globs: * and ? stay within a path segment, ** spans any."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


def sent_to_builder(path: str) -> bool:
    """Whether `docker build` sends this path: the last rule that matches it (or one of
    its parent folders) decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negated, regex in dockerignore_rules():
        if any(regex.fullmatch(candidate) for candidate in candidates):
            ignored = not negated
    return not ignored


def locked(name: str) -> dict[str, set[str]]:
    """{package: {versions}} of a lock file; a package may be pinned once per marker."""
    pins: dict[str, set[str]] = {}
    for match in re.finditer(r"^([A-Za-z0-9._-]+)==(\S+)", (ROOT / name).read_text(), re.M):
        pins.setdefault(canonicalize_name(match.group(1)), set()).add(match.group(2))
    return pins


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def lock_entries(name: str) -> Iterator[str]:
    """Each pinned requirement of a lock file with its continuation lines."""
    text = (ROOT / name).read_text()
    yield from re.findall(r"^[A-Za-z0-9._-]+==.*?(?=^\S|\Z)", text, re.M | re.S)


# --- the Dockerfile -----------------------------------------------------------------------


def test_the_base_image_is_pinned_by_exact_version_and_digest() -> None:
    args = dict(
        rest.split("=", 1) for keyword, rest in dockerfile_instructions() if keyword == "ARG"
    )
    image = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", image), image
    stage_names = set()
    for stage in stages():
        source = stage[0][1].split()[0]
        assert source == "${PYTHON_IMAGE}" or source in stage_names, source
        if " AS " in stage[0][1].upper():
            stage_names.add(stage[0][1].split()[-1])


def test_dependencies_come_from_the_lock_file_before_any_code() -> None:
    flat = dockerfile_instructions()
    install = next(
        i for i, (keyword, rest) in enumerate(flat)
        if keyword == "RUN" and "--require-hashes" in rest and "-r /tmp/requirements.lock" in rest
    )
    copied_lock = next(
        i for i, (keyword, rest) in enumerate(flat)
        if keyword == "COPY" and rest.split()[0] == "requirements.lock"
    )
    first_code = min(
        i for i, (keyword, rest) in enumerate(flat)
        if keyword == "COPY" and rest.split()[0] in (*SOURCE_DIRS, "pyproject.toml")
    )
    assert copied_lock < install < first_code
    # The project itself is installed without resolving anything again.
    project_installs = [
        rest for keyword, rest in flat
        if keyword == "RUN" and "pip" in rest and "requirements.lock" not in rest
    ]
    assert project_installs and all("--no-deps" in rest for rest in project_installs)


def test_it_runs_as_an_unprivileged_user() -> None:
    final = stages()[-1]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(keyword == "RUN" and "useradd" in rest for keyword, rest in final)


def test_matplotlib_builds_its_font_cache_into_the_image_as_that_user() -> None:
    final = stages()[-1]
    env = " ".join(rest for keyword, rest in final if keyword == "ENV")
    assert "MPLCONFIGDIR=/home/" in env
    user = None
    for keyword, rest in final:
        if keyword == "USER":
            user = rest
        if keyword == "RUN" and "import matplotlib.pyplot" in rest:
            assert user not in (None, "root", "0")
            break
    else:
        pytest.fail("no RUN imports matplotlib.pyplot in the final stage")


def test_it_has_a_healthcheck_on_healthz() -> None:
    checks = [rest for keyword, rest in stages()[-1] if keyword == "HEALTHCHECK"]
    assert len(checks) == 1 and "/healthz" in checks[0] and "NONE" not in checks[0]


def test_storydesk_gets_sigterm_directly() -> None:
    final = dict((keyword, rest) for keyword, rest in stages()[-1])
    entrypoint = json.loads(final["ENTRYPOINT"])  # exec form: a JSON array, no shell
    command = json.loads(final["CMD"])
    assert entrypoint + command == ["storydesk", "run"]
    assert final.get("STOPSIGNAL", "SIGTERM") == "SIGTERM"


# --- the build context ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python", ".git/HEAD", ".git", ".env", "config/.env", "bot/.env.local",
        "storydesk.db", "storydesk.db-wal", "data/storydesk.db", "storage/left-over.db",
        "storage/left-over.db-shm", "bot/__pycache__/web.cpython-311.pyc",
        ".mypy_cache/3.11/x.json", ".pytest_cache/v", ".hypothesis/examples/x",
        "bench/out/digest.json", "tests/conftest.py", "storydesk.egg-info/PKG-INFO",
    ],
)
def test_the_build_context_leaves_out(path: str) -> None:
    assert not sent_to_builder(path)


@pytest.mark.parametrize(
    "path",
    [
        "requirements.lock", "pyproject.toml", "README.md", "bot/web.py", "bot/slack/app.py",
        "handlers/pitches.py", "storage/migrations/env.py", "config/settings.py",
        "config/.env.example", "config/slack-manifest.yaml",
    ],
)
def test_the_build_context_keeps(path: str) -> None:
    assert sent_to_builder(path)


def test_every_file_the_dockerfile_copies_is_in_the_context() -> None:
    for keyword, rest in dockerfile_instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert sent_to_builder(source), source


# --- the compose file -------------------------------------------------------------------


def test_storydesk_waits_for_a_healthy_database() -> None:
    services = compose()["services"]
    assert services["storydesk"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["db"]["healthcheck"]["test"]


def test_the_database_port_is_not_published() -> None:
    db = compose()["services"]["db"]
    assert "ports" not in db and "network_mode" not in db


def test_the_web_port_is_bound_to_localhost_unless_the_operator_says_otherwise() -> None:
    ports = compose()["services"]["storydesk"]["ports"]
    assert [interpolate(port, {}) for port in ports] == ["127.0.0.1:3000:3000"]
    chosen = {"STORYDESK_BIND": "0.0.0.0", "STORYDESK_PUBLISH_PORT": "8080"}
    assert [interpolate(port, chosen) for port in ports] == ["0.0.0.0:8080:3000"]


def test_the_database_password_has_no_default() -> None:
    services = compose()["services"]
    places = [
        services["db"]["environment"]["POSTGRES_PASSWORD"],
        services["storydesk"]["environment"]["DATABASE_URL"],
    ]
    for value in places:
        with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
            interpolate(value, {})
    assert interpolate(places[1], {"POSTGRES_PASSWORD": "s3cr3t"}) == (
        "postgresql+psycopg://storydesk:s3cr3t@db:5432/storydesk"
    )


def test_the_database_image_is_pinned_by_digest() -> None:
    image = interpolate(compose()["services"]["db"]["image"], {})
    assert re.fullmatch(r"postgres:\d+\.\d+-bookworm@sha256:[0-9a-f]{64}", image), image


def test_storydesk_has_time_to_stop_and_an_init_that_passes_sigterm() -> None:
    storydesk = compose()["services"]["storydesk"]
    grace = re.fullmatch(r"(\d+)s", storydesk["stop_grace_period"])
    assert grace and int(grace.group(1)) >= 15
    assert storydesk["init"] is True


def test_every_compose_variable_is_documented_in_the_example_env() -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text()))
    example = (ROOT / "config" / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z0-9_]+)=", example, re.M))
    assert used and used <= documented, used - documented
    assert "POSTGRES_PASSWORD" in used


# --- the lock files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lock", "extras"), [("requirements.lock", ()), ("requirements-dev.lock", ("dev",))]
)
def test_the_lock_pins_every_dependency_within_its_range(lock: str, extras: tuple[str]) -> None:
    project = pyproject()["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    wanted += pyproject()["build-system"]["requires"]
    pins = locked(lock)
    for line in wanted:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is missing from {lock}: run `make lock`"
        for version in pins[name]:
            assert Version(version) in requirement.specifier, (
                f"{lock} pins {name}=={version}, pyproject wants {requirement.specifier}: "
                "run `make lock`"
            )


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_every_pin_carries_hashes(lock: str) -> None:
    entries = list(lock_entries(lock))
    assert len(entries) > 20
    for entry in entries:
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), entry.splitlines()[0]


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_the_lock_says_which_pythons_it_is_for(lock: str) -> None:
    header = (ROOT / lock).read_text().split("\n\n", 1)[0][:400]
    oldest = re.search(r"Python >= (3\.\d+)", header)
    assert oldest, header
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    assert Version(oldest.group(1)) in requires


def test_what_ships_is_what_the_tests_ran_with() -> None:
    runtime, dev = locked("requirements.lock"), locked("requirements-dev.lock")
    different = {name: (versions, dev.get(name)) for name, versions in runtime.items()
                 if dev.get(name) != versions}
    assert not different


def test_make_install_uses_the_lock_file() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r requirements-dev.lock" in makefile
    assert "pip install --quiet --no-deps --no-build-isolation -e ." in makefile
    assert re.search(r"^lock:", makefile, re.M)


def test_the_inbox_outlives_the_container() -> None:
    """Slack requests acknowledged before they committed wait in the inbox file; a
    container that `docker compose up --build` recreates must find them there."""
    compose_file = compose()
    storydesk = compose_file["services"]["storydesk"]
    inbox = Path(storydesk["environment"]["STORYDESK_INBOX_PATH"])
    mounts = {target: source for source, target in
              (volume.split(":")[:2] for volume in storydesk["volumes"])}
    assert str(inbox.parent) in mounts and mounts[str(inbox.parent)] in compose_file["volumes"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"install -d -o storydesk -g storydesk {inbox.parent}" in dockerfile
