"""Documents served as pages inside the application (login required): the CSV import format.

No Markdown library is among the requirements, so this is a minimal renderer of the subset the project's documents
use: headings, paragraphs, bullet lists (nested by indentation), tables, fenced code, `code`, **bold**, *italic*
and links. It is safe by construction: every piece of text is HTML-escaped before the few tags are added, and
only http(s) links become links (a relative link to another document or folder is shown as its text).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

#: Slug in the URL -> (title, document under docs/).
DOCUMENTS = {"import-format": (gettext_lazy("CSV import format"), "import-format.md")}

_INLINE = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|\*(\S(?:.*?\S)?)\*|\[([^\]]+)\]\(([^)\s]+)\)")


def _inline(text: str) -> str:
    """One line of text: escaped, with code, bold, italic and links."""
    out, last = [], 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(text[last : match.start()], quote=False))
        code, bold, italic, label, url = match.groups()
        if code is not None:
            out.append(f"<code>{html.escape(code, quote=False)}</code>")
        elif bold is not None:
            out.append(f"<strong>{_inline(bold)}</strong>")
        elif italic is not None:
            out.append(f"<em>{_inline(italic)}</em>")
        elif url.startswith(("https://", "http://")):
            out.append(f'<a href="{html.escape(url)}" rel="noopener noreferrer">{_inline(label)}</a>')
        else:
            out.append(_inline(label))
        last = match.end()
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _list(items: list[tuple[int, str]]) -> str:
    """Bullet items (indent, text) as nested <ul>s."""
    out, depth_stack = [], []
    for indent, text in items:
        if not depth_stack or indent > depth_stack[-1]:
            out.append("<ul>")
            depth_stack.append(indent)
        else:
            while len(depth_stack) > 1 and indent < depth_stack[-1]:
                out.append("</li></ul>")
                depth_stack.pop()
            out.append("</li>")
        out.append(f"<li>{_inline(text)}")
    out.append("</li></ul>" * len(depth_stack))
    return "".join(out)


def render_markdown(text: str) -> SafeString:
    """The subset of Markdown described in the module docstring, as safe HTML."""
    blocks: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), len(lines))
            blocks.append(f"<pre><code>{html.escape(chr(10).join(lines[i + 1 : end]), quote=False)}</code></pre>")
            i = end + 1
        elif heading := re.match(r"(#{1,6})\s+(.*)", line):
            level = len(heading.group(1))  # the document's own title is the page's h1
            blocks.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            i += 1
        elif line.lstrip().startswith("|"):
            rows = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                if not re.fullmatch(r"\s*\|[\s|:-]+\|?\s*", lines[i]):
                    rows.append(_cells(lines[i]))
                i += 1
            head, body = rows[0], rows[1:]
            blocks.append(
                '<table class="table table-sm"><thead><tr>'
                + "".join(f"<th>{_inline(c)}</th>" for c in head)
                + "</tr></thead><tbody>"
                + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in body)
                + "</tbody></table>"
            )
        elif re.match(r"\s*[-*]\s+", line):
            items: list[tuple[int, str]] = []
            while i < len(lines) and lines[i].strip():
                bullet = re.match(r"(\s*)[-*]\s+(.*)", lines[i])
                if bullet:
                    items.append((len(bullet.group(1)), bullet.group(2)))
                elif items:  # a continuation line of the item above
                    items[-1] = (items[-1][0], f"{items[-1][1]} {lines[i].strip()}")
                i += 1
            blocks.append(_list(items))
        elif not line.strip():
            i += 1
        else:
            paragraph = []
            while i < len(lines) and lines[i].strip() and not re.match(r"(#|```|\s*\||\s*[-*]\s)", lines[i]):
                paragraph.append(lines[i].strip())
                i += 1
            blocks.append(f"<p>{_inline(' '.join(paragraph))}</p>")
    return mark_safe("\n".join(blocks))  # every piece of text was escaped above


def document_path(name: str) -> Path:
    return Path(settings.BASE_DIR) / "docs" / name


@login_required
def help_page(request, slug: str):
    """A document of docs/ as a page (any logged-in user: it describes formats, not study data)."""
    if slug not in DOCUMENTS:
        raise Http404(_("No such help page."))
    title, name = DOCUMENTS[slug]
    body = render_markdown(document_path(name).read_text(encoding="utf-8"))
    return render(request, "help_page.html", {"title": title, "body": body, "source": f"docs/{name}"})
