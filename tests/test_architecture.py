"""The shape of the code (docs/architecture.md): data and imports flow cohorts -> ecrf -> analysis, never back,
no module imports itself through others, and nothing cites a document the repository does not hold.

Imports are read from the source (module level and inside functions alike), so a lazy import that runs against
the flow or closes a cycle is found too.
"""

import ast
import importlib.metadata
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("config", "accounts", "cohorts", "ecrf", "fhir_pull", "cleaning", "analysis", "api", "demo")
# What each package may import of the others (the flow, plus the project package that wires them together).
ALLOWED = {
    "cohorts": {"cohorts"},
    "ecrf": {"cohorts", "ecrf", "config"},
    # Values pulled from FHIR servers are saved through ecrf's services; releases export their provenance.
    "fhir_pull": {"cohorts", "ecrf", "fhir_pull", "config"},
    # Queries and data-quality rules are about ecrf's data; releases export the queries.
    # Signing asks for the password and the second factor again (accounts.reauth).
    "cleaning": {"cohorts", "ecrf", "cleaning", "accounts", "config"},
    "analysis": {"cohorts", "ecrf", "fhir_pull", "cleaning", "analysis", "config"},
    "accounts": {"accounts"},
    # The REST API is the last layer: it reads and writes through the selectors and services of the three apps.
    "api": {"cohorts", "ecrf", "cleaning", "analysis", "api", "accounts", "config"},
    "demo": {"cohorts", "ecrf", "cleaning", "analysis", "demo"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The project modules ``name`` imports (the longest known module name of each import)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in MODULES:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_imports_follow_the_flow(name):
    app = name.split(".")[0]
    if app not in ALLOWED:
        return
    against = {target for target in GRAPH[name] if target.split(".")[0] not in ALLOWED[app]}
    assert not against, f"{name} imports {sorted(against)} against cohorts -> ecrf -> analysis"


def test_no_import_cycle():
    """Tarjan's strongly connected components of the module graph: every one must be a single module."""
    index, low, on_stack, stack, cycles, counter = {}, {}, set(), [], [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    assert cycles == []


def test_no_app_shares_its_top_level_name_with_an_installed_library():
    """An app named like a library's top-level package (``fhir``, fhir.resources') hides it, or needs a
    ``__path__`` hack to share it: the FHIR pull is the package ``fhir_pull`` (app label ``fhir``)."""
    libraries = importlib.metadata.packages_distributions()
    assert {app: libraries[app] for app in APPS if app in libraries} == {}


OUTSIDE = re.compile(r"\bSPEC\b|DESIGN\.md|\.\./shared")
TEXT_SUFFIXES = {".py", ".html", ".md", ".txt", ".toml", ".cfg", ".csv", ".css", ".js", ""}


def test_nothing_cites_a_document_outside_the_repository():
    tracked = [
        path
        for path in ROOT.rglob("*")
        if path.is_file()
        and path.suffix in TEXT_SUFFIXES
        and not ({".git", ".venv", "var", "node_modules", "__pycache__", "vendor"} & set(path.parts))
        and path.name != "test_architecture.py"
    ]
    citing = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in tracked
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert citing == []
