"""Code blocks of the README and docs/*.md, as a new user would paste them.

A block runs in a fresh folder of its own. An HTML comment on the line right above
its fence says how, when the block is not a whole program by itself::

    <!-- snippet: name=quickstart -->      other blocks of this file can run after it
    <!-- snippet: after=quickstart -->     run quickstart first, in the same folder,
                                           as a separate process (a user who ran it)
    <!-- snippet: continues -->            the previous python block of this file and
                                           this one, pasted into one session
    <!-- snippet: skip=why -->             not run; the reason is required

A python block whose first line is ``# name.py`` is saved under that name (another
block imports it or runs it) and also run. A ``bash``/``console`` block runs each
command line with ``bash``; a ``$`` prompt is dropped. Other blocks (yaml, text,
plain) are not code.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUNNABLE = {"python": "python", "py": "python", "bash": "shell", "sh": "shell", "console": "shell"}

_FENCE = re.compile(r"^```(\S*)")
_DIRECTIVE = re.compile(r"<!--\s*snippet:\s*(.*?)\s*-->")
_FILE_LINE = re.compile(r"#\s*([\w.-]+\.py)\b")


@dataclasses.dataclass
class Snippet:
    """One fenced block of a document."""

    doc: Path
    line: int
    """Line of the opening fence, 1-based."""
    lang: str
    code: str
    name: str | None = None
    after: list[str] = dataclasses.field(default_factory=list)
    skip: str | None = None
    continues: Snippet | None = None

    @property
    def kind(self) -> str | None:
        return RUNNABLE.get(self.lang)

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}"

    @property
    def file_name(self) -> str | None:
        """The name a ``# name.py`` first line gives the block."""
        first = self.code.splitlines()[0] if self.code.strip() else ""
        match = _FILE_LINE.fullmatch(first.strip())
        return match.group(1) if match and self.kind == "python" else None

    def whole_code(self) -> str:
        """The code as pasted: the blocks it continues first."""
        parts = []
        block: Snippet | None = self
        while block is not None:
            parts.append(block.code)
            block = block.continues
        return "\n".join(reversed(parts))

    def commands(self) -> list[str]:
        """Shell command lines (continuations joined, prompts and comments dropped)."""
        lines: list[str] = []
        pending = ""
        for raw in self.code.splitlines():
            text = raw.rstrip()
            if pending:
                text = pending + " " + text.strip()
                pending = ""
            elif text.startswith("$ "):
                text = text[2:]
            elif not text.strip() or text.lstrip().startswith("#"):
                continue
            if text.endswith("\\"):
                pending = text[:-1].rstrip()
                continue
            lines.append(text)
        return lines


def _parse_directive(text: str, snippet: Snippet) -> None:
    for part in text.split():
        key, _, value = part.partition("=")
        if key == "name":
            snippet.name = value
        elif key == "after":
            snippet.after = [v for v in value.split(",") if v]
        elif key == "skip":
            snippet.skip = text.split("skip=", 1)[1].strip()
            if not snippet.skip:
                raise ValueError(f"{snippet.id}: skip needs a reason")
            return
        elif key == "continues":
            snippet.continues = snippet  # resolved by the caller
        else:
            raise ValueError(f"{snippet.id}: unknown snippet directive {part!r}")


def parse(doc: Path) -> list[Snippet]:
    """Every fenced block of ``doc``, with its directive applied."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    snippets: list[Snippet] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start = i
        lang = match.group(1).strip("{}.").lower()
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        snippet = Snippet(doc, start + 1, lang, "\n".join(body) + "\n")
        above = lines[start - 1] if start else ""
        directive = _DIRECTIVE.search(above)
        if directive:
            _parse_directive(directive.group(1), snippet)
            if snippet.continues is snippet:
                previous = [s for s in snippets if s.kind == "python"]
                if not previous:
                    raise ValueError(f"{snippet.id}: 'continues' with no python block above")
                snippet.continues = previous[-1]
        snippets.append(snippet)
        i += 1
    return snippets


def all_snippets() -> list[Snippet]:
    return [s for doc in DOCUMENTS for s in parse(doc)]
