"""The package graph points one way: a subpackage imports only subpackages below it, so there is no cycle and no
step reaches up into one that builds on it (reports read records, they do not run models)."""
import ast
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
# bottom to top; a package may import any package listed before it
LAYERS = ["common", "models", "video", "runtimes", "metrics", "convert", "training", "edge", "bench", "predict",
          "stylize", "reports", "pipeline", "api"]


def imports_of(package: str) -> set[str]:
    found = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                parts = name.split(".")
                if parts[0] == "vst" and len(parts) > 1 and parts[1] != package:
                    found.add(parts[1])
    return found


def test_every_subpackage_imports_only_downwards():
    wrong = {}
    for i, package in enumerate(LAYERS):
        above = imports_of(package) - set(LAYERS[:i])
        if above:
            wrong[package] = sorted(above)
    assert not wrong, f"imports pointing up or sideways (package -> packages it must not import): {wrong}"


def test_no_package_cycle():
    graph = {p: imports_of(p) & set(LAYERS) for p in LAYERS}
    state: dict[str, int] = {}

    def visit(p, stack):
        state[p] = 1
        for q in graph[p]:
            if state.get(q) == 1:
                raise AssertionError(f"package cycle: {' -> '.join(stack + [p, q])}")
            if q not in state:
                visit(q, stack + [p])
        state[p] = 2
    for p in LAYERS:
        if p not in state:
            visit(p, [])


def module_imports(package: str) -> dict[str, set[str]]:
    """Within one package: module -> the package's modules it imports (at module level or inside functions; a
    deferred import still ties the two modules together). A subpackage's modules are named by their dotted path."""
    root = REPO / package
    modules = {".".join(p.relative_to(root).with_suffix("").parts): p for p in root.rglob("*.py")}
    modules = {(m[: -len(".__init__")] if m.endswith(".__init__") else "" if m == "__init__" else m): p
               for m, p in modules.items()}
    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[:2] == ["vst", package]:
                    target = ".".join(parts[2:])
                    if target in modules and target != mod:
                        found.add(target)
        # a package's __init__ re-exports its modules: importing the package is not importing them all
        graph[mod] = {t for t in found if t != ""}
    return graph


def test_no_module_cycle_inside_a_package():
    circles = []
    for package in LAYERS:
        graph = module_imports(package)
        state: dict[str, int] = {}

        def visit(m, stack):
            state[m] = 1
            for n in sorted(graph[m]):
                if state.get(n) == 1:
                    circles.append(f"{package}: " + " -> ".join(stack[stack.index(n):] + [n]) if n in stack
                                   else f"{package}: {' -> '.join(stack + [n])}")
                elif n not in state:
                    visit(n, stack + [n])
            state[m] = 2
        for m in sorted(graph):
            if m not in state:
                visit(m, [m])
    assert not circles, f"modules that import each other in a loop: {circles}"


def test_only_runtimes_construct_interpreters_and_sessions():
    offenders = []
    for package in LAYERS + ["scripts"]:
        if package == "runtimes":
            continue
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text()
            if "InferenceSession(" in text or "Interpreter(" in text:
                offenders.append(str(path.relative_to(REPO)))
    assert not offenders, f"set up a runtime outside vst.runtimes: {offenders}"


def test_every_layer_is_a_mapped_package():
    text = (REPO / "pyproject.toml").read_text()
    for package in LAYERS:
        assert f'"vst.{package}" = "{package}"' in text, package


def test_every_console_command_lives_in_its_packages_cli_module():
    import tomllib
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    wrong = {name: target for name, target in scripts.items()
             if not (target.split(":")[0].startswith("vst.") and target.split(":")[0].endswith(".cli"))}
    assert not wrong, f"console commands outside their package's cli.py: {wrong}"


def test_benchmarks_reports_and_predictions_take_nothing_from_convert():
    """They run artifacts through vst.runtimes and read conversion reports through vst.common.records: a change
    inside the converter cannot reach them."""
    reading = {p: imports_of(p) & {"convert"} for p in ("bench", "reports", "predict", "stylize", "edge")}
    assert not any(reading.values()), reading
