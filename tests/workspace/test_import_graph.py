"""No module takes part in an import cycle: tasks import services, services send tasks by
name (workspace/jobs/enqueue.py), and no module imports one that imports it back, even
lazily inside a function (grimp reads every import statement)."""

from __future__ import annotations

import grimp

# The packages whose modules may take part in no cycle at all.
CHECKED = ("research", "workspace", "stories")


def import_cycles(*packages: str) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    imports = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        on_stack.add(module)
        for imported in imports[module]:
            if imported not in order:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], order[imported])
        if low[module] == order[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(imports):
        if module not in order:
            visit(module)
    return cycles


def test_a_cycle_of_two_modules_is_found(tmp_path, monkeypatch) -> None:
    """The check itself: grimp sees an import inside a function, and the cycle is found."""
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "first.py").write_text("from cyclic import second\n")
    (package / "second.py").write_text("def f():\n    from cyclic import first\n")
    (package / "third.py").write_text("from cyclic import first\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("cyclic") == [["cyclic.first", "cyclic.second"]]


def test_no_module_of_research_or_workspace_is_part_of_an_import_cycle() -> None:
    cycles = import_cycles("research", "workspace", "stories")
    checked = [cycle for cycle in cycles if any(m.startswith(CHECKED) for m in cycle)]
    assert checked == []
