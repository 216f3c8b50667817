"""Imports flow pages/API/tasks -> domain -> models: the domain reaches the queue, the tax
authority and the ERP as ports registered on the app, never by importing an adapter."""

import ast
from pathlib import Path

import webapp

ADAPTERS = ("webapp.tasks", "webapp.web", "webapp.api")


def imported_modules(source: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            # ``from webapp import tasks`` imports the adapter by its attribute name.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def is_adapter(module: str) -> bool:
    return any(module == adapter or module.startswith(f"{adapter}.") for adapter in ADAPTERS)


def test_no_domain_module_imports_an_adapter():
    domain = Path(webapp.__file__).parent / "billing"
    sources = sorted(domain.glob("*.py"))
    assert len(sources) > 10, "the scan must see the domain's modules"
    imports = {
        source.name: sorted(m for m in imported_modules(source) if is_adapter(m))
        for source in sources
    }
    assert {name: found for name, found in imports.items() if found} == {}


def test_the_scan_sees_an_adapter_imported_inside_a_function(tmp_path):
    source = tmp_path / "example.py"
    source.write_text("def submit():\n    from webapp import tasks\n    return tasks\n")
    assert "webapp.tasks" in imported_modules(source)
