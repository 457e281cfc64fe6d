"""Find the code blocks in README.md and docs/*.md, with the directives written above them.

A directive is an HTML comment on the line before a fence (invisible on the site)::

    <!-- snippet: setup=kit -->                 run with the named setups (comma-separated)
    <!-- snippet: compile-only: why it cannot run here -->
    <!-- snippet: session=NAME -->              shell: one bash session per NAME and page
    <!-- snippet: saved-as=embed.py -->         python: a shell session of the page saves it as this file

Every ``python`` block runs unless it says ``compile-only`` (and why); every shell block
that calls ``curl`` belongs to a shell test (``tests/docs/test_shell.py``).
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"console", "sh", "bash", "shell"}

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
_DIRECTIVE = re.compile(r"<!--\s*snippet:\s*(.*?)\s*-->\s*\Z", re.S)


@attrs.frozen
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    directives: dict[str, str]

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def setups(self) -> list[str]:
        value = self.directives.get("setup", "")
        return [name.strip() for name in value.split(",") if name.strip()]

    @property
    def has_curl(self) -> bool:
        return re.search(r"(^|[\s$(])curl\s", self.code) is not None


def _directives(text_before: str) -> dict[str, str]:
    lines = text_before.rstrip("\n").splitlines()
    last = lines[-1] if lines else ""
    match = _DIRECTIVE.search(last)
    if match is None:
        return {}
    found: dict[str, str] = {}
    for part in match.group(1).split(";"):
        key, sep, value = part.partition("=") if "=" in part.split(":")[0] else part.partition(":")
        found[key.strip()] = value.strip() if sep else ""
    return found


def blocks(pages: list[Path] = PAGES) -> list[Block]:
    """Return every fenced block of ``pages`` in page order."""
    found = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            before = text[: match.start()]
            found.append(
                Block(
                    page=page,
                    line=before.count("\n") + 1,
                    language=match.group(1).lower(),
                    code=match.group(2),
                    directives=_directives(before),
                )
            )
    return found


def python_blocks() -> list[Block]:
    return [b for b in blocks() if b.language == "python"]


def curl_blocks() -> list[Block]:
    return [b for b in blocks() if b.language in SHELL_LANGUAGES and b.has_curl]
