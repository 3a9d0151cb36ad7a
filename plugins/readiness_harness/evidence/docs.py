"""A repository's documents as a reader finds them: from the README, by its links.

- `links(markdown)`: every inline `[text](target)` and reference `[text]: target` link;
- `linked_document(repository, words)`: the README's first link to a file of the
  repository whose link text or path names one of `words` (a troubleshooting guide, say);
- `mermaid_blocks(markdown)` and `diagram_labels(block)`: the names a Mermaid diagram
  gives its nodes (flowchart shapes, subgraph titles, C4 elements, sequence participants);
- `runbook_page(url, repository)`: the file of the repository a rule's `runbook_url`
  points at (a path, or a github.com `blob/<ref>/<path>` URL), and whether its `#anchor`
  is one of the page's headings (GitHub's heading slugs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

README_NAMES = ("README.md", "README.rst", "README.txt", "README")

_INLINE = re.compile(r"(?<!!)\[(?P<text>[^\]]+)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_REFERENCE = re.compile(r"^\s*\[(?P<text>[^\]]+)\]:\s*(?P<target>\S+)", re.MULTILINE)
_FENCE = re.compile(
    r"^(?P<fence>```|~~~)\s*mermaid\s*$\n(?P<body>.*?)^(?P=fence)\s*$", re.MULTILINE | re.DOTALL
)
# Flowchart node shapes: id[label] id(label) id([label]) id[(label)] id((label)) id{label}
# id{{label}} id[/label/] id[\label\] id>label] ; the label may be quoted.
_OPEN = r"(?:\[\[|\[\(|\(\[|\(\(|\{\{|\[/|\[\\|\[|\(|\{|>)"
_CLOSE = r"(?:\]\]|\)\]|\]\)|\)\)|\}\}|/\]|\\\]|\]|\)|\})"
_NODE = re.compile(
    r"(?:^|[\s;&>-])(?P<id>[A-Za-z_][\w.-]*)\s*" + _OPEN + r"\s*"
    r"(?:\"(?P<quoted>[^\"\n]*)\"|(?P<label>[^\]\)\}\"\n]+?))\s*" + _CLOSE
)
_SUBGRAPH = re.compile(r"^\s*subgraph\s+(?P<rest>.+?)\s*$", re.MULTILINE)
_PARTICIPANT = re.compile(r"^\s*(?:participant|actor)\s+(?P<rest>.+?)\s*$", re.MULTILINE)
_C4 = re.compile(
    r"\b(?:Person|System|Container|Component|ContainerDb|SystemDb|ComponentDb|ContainerQueue|SystemQueue)"
    r"(?:_Ext)?\s*\(\s*[\w.-]+\s*,\s*\"(?P<label>[^\"]+)\""
)
_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$", re.MULTILINE)
_HEADING_LEVEL = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*#*\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Link:
    text: str
    target: str

    @property
    def local_path(self) -> str | None:
        """The repository path the link points at, or None for an outside URL or an anchor."""
        parts = urlsplit(self.target)
        if parts.scheme or parts.netloc or not parts.path:
            return None
        return unquote(parts.path)


def links(markdown: str) -> list[Link]:
    found = [Link(m["text"].strip(), m["target"].strip("<>")) for m in _INLINE.finditer(markdown)]
    found += [Link(m["text"].strip(), m["target"].strip("<>")) for m in _REFERENCE.finditer(markdown)]
    return found


def find_readme(repository: Path) -> Path | None:
    for name in README_NAMES:
        if (repository / name).is_file():
            return repository / name
    return None


def linked_document(repository: Path, words: tuple[str, ...]) -> tuple[Link, Path] | None:
    """The README's first link to an existing file of `repository` whose text or path
    contains one of `words` (case-insensitive)."""
    readme = find_readme(repository)
    if readme is None:
        return None
    for link in links(readme.read_text(encoding="utf-8", errors="replace")):
        path = link.local_path
        if path is None:
            continue
        haystack = f"{link.text} {path}".lower()
        if not any(word.lower() in haystack for word in words):
            continue
        file = (readme.parent / path).resolve()
        if file.is_file() and file.is_relative_to(repository.resolve()):
            return link, file
    return None


def headings(markdown: str) -> list[str]:
    return [match["title"].strip() for match in _HEADING.finditer(markdown)]


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[`*_~]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def mermaid_blocks(markdown: str) -> list[str]:
    return [match["body"] for match in _FENCE.finditer(markdown)]


def _unquote_label(text: str) -> str:
    return text.strip().strip('"').strip()


def diagram_labels(block: str) -> set[str]:
    """The names a Mermaid diagram shows for its nodes, groups and participants."""
    labels: set[str] = set()
    for line in block.splitlines():
        stripped = line.strip()
        if stripped.startswith("%%"):
            continue
        for match in _NODE.finditer(" " + stripped):
            labels.add(_unquote_label(match["quoted"] if match["quoted"] is not None else match["label"]))
    for match in _SUBGRAPH.finditer(block):
        rest = match["rest"]
        titled = re.search(r"\[\s*\"?([^\]\"]+)\"?\s*\]", rest)
        labels.add(_unquote_label(titled.group(1) if titled else rest))
    for match in _PARTICIPANT.finditer(block):
        rest = match["rest"]
        labels.add(_unquote_label(rest.split(" as ", 1)[1] if " as " in rest else rest))
    for match in _C4.finditer(block):
        labels.add(match["label"].strip())
    return {label.replace("<br>", " ").replace("<br/>", " ") for label in labels if label}


def diagram_kind(block: str) -> str:
    first = next(
        (line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("%%")),
        "",
    )
    return first.split()[0] if first else ""


@dataclass(frozen=True)
class RunbookPage:
    url: str
    path: Path | None
    anchor: str | None
    problem: str | None
    """Why the URL does not lead to a page of the repository (None when it does)."""

    def text(self) -> str:
        """The page, or only its section under the anchor's heading."""
        if self.path is None:
            return ""
        markdown = self.path.read_text(encoding="utf-8", errors="replace")
        return section(markdown, self.anchor) if self.anchor else markdown


def section(markdown: str, anchor: str) -> str:
    """The text under the heading whose slug is `anchor`, up to the next heading of the
    same or a higher level (empty when there is no such heading)."""
    matches = list(_HEADING_LEVEL.finditer(markdown))
    for index, match in enumerate(matches):
        if slug(match["title"]) != anchor.lower():
            continue
        level = len(match["hashes"])
        end = len(markdown)
        for later in matches[index + 1 :]:
            if len(later["hashes"]) <= level:
                end = later.start()
                break
        return markdown[match.start() : end]
    return ""


def runbook_page(url: str, repository: Path, base: Path | None = None) -> RunbookPage:
    """The page `url` points at: a github.com blob URL, or a path relative to `base` (the
    rule file's folder, when the rules came from files) or else to the repository."""
    parts = urlsplit(url.strip())
    anchor = unquote(parts.fragment) or None
    if parts.scheme in ("http", "https"):
        found = re.match(r"^/[^/]+/[^/]+/(?:blob|tree)/[^/]+/(?P<path>.+)$", parts.path)
        if parts.netloc not in ("github.com", "www.github.com") or found is None:
            return RunbookPage(
                url, None, anchor, "not a page of the repository (a path, or a github.com blob URL)"
            )
        relative = unquote(found["path"])
        candidates = [repository / relative]
    elif parts.scheme or parts.netloc:
        return RunbookPage(url, None, anchor, f"unsupported scheme {parts.scheme!r}")
    else:
        relative = unquote(parts.path)
        candidates = [repository / relative.lstrip("/")]
        if base is not None and not relative.startswith("/"):
            candidates.insert(0, base / relative)
    root = repository.resolve()
    for candidate in candidates:
        path = candidate.resolve()
        if path.is_file() and path.is_relative_to(root):
            break
    else:
        return RunbookPage(url, None, anchor, f"{relative} is not a file of the repository")
    if anchor is not None:
        slugs = {slug(title) for title in headings(path.read_text(encoding="utf-8", errors="replace"))}
        if anchor.lower() not in slugs:
            return RunbookPage(url, path, anchor, f"{path.name} has no heading for #{anchor}")
    return RunbookPage(url, path, anchor, None)


def normalized(text: str) -> str:
    """Lower case, Markdown emphasis removed, whitespace collapsed (for finding a line's text)."""
    return re.sub(r"\s+", " ", re.sub(r"[*_`]", "", text)).strip().lower()
