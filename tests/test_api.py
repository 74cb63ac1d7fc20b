"""The package's API conventions, checked on the source (AST) and on the imported modules.

a. no private cross-module imports or ``alias._name`` reaches into another kernapprox module;
b. the module-level import graph of kernapprox is acyclic, and the bottom layer (``_numba``,
   ``_tiling``, ``_random``) imports nothing above it, not even inside functions;
c. ``dir(ka)`` / ``dir(ka.attention)`` show public names only; every public module has an
   ``__all__`` of existing, public verbs and types (ALL_CAPS names only from a short allow-list of
   documented enumerations);
d. public signatures use the glossary names (ARCHITECTURE.md "Vocabulary"): a banned name is
   accepted only as a deprecated alias that emits DeprecationWarning; ``rng`` is keyword-only;
   ``**kwargs`` only as ``**options`` of a dispatcher (a verb with a ``method``/``kind`` choice) or of
   an attention method;
e. docstrings and comments describe the code, not its history; a theorem is cited one way.

Each check collects every violation and reports them all at once (one line per violation).
"""
from __future__ import annotations

import ast
import importlib
import inspect
import io
import re
import tokenize
from pathlib import Path

import pytest

import kernapprox as ka

PKG = Path(ka.__file__).resolve().parent
ROOT = PKG.parent
TESTS = ROOT / "tests"


# --------------------------------------------------------------------------------------------------
# discovery
# --------------------------------------------------------------------------------------------------
def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (``__main__`` excluded)."""
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        if path.name == "__main__.py" or "__pycache__" in path.parts:
            continue
        out[_module_name(path)] = path
    return out


SOURCES = _sources()
PACKAGES = {name for name, path in SOURCES.items() if path.name == "__init__.py"}


def _is_public(modname: str) -> bool:
    return not any(part.startswith("_") for part in modname.split("."))


PUBLIC_MODULES = sorted(m for m in SOURCES if _is_public(m))


def _parse(modname: str) -> ast.Module:
    return ast.parse(SOURCES[modname].read_text(encoding="utf-8"), filename=str(SOURCES[modname]))


def _resolve(modname: str, node: ast.ImportFrom) -> str | None:
    """Absolute name of the module an ImportFrom names (None when it is not a kernapprox module)."""
    if node.level == 0:
        base = node.module or ""
        return base if base == "kernapprox" or base.startswith("kernapprox.") else None
    pkg = modname.split(".") if modname in PACKAGES else modname.split(".")[:-1]
    pkg = pkg[:len(pkg) - (node.level - 1)]
    return ".".join(pkg + ([node.module] if node.module else []))


def _is_module(name: str) -> bool:
    return name in SOURCES


def _fmt(modname: str, node) -> str:
    return f"{SOURCES[modname].relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"


# --------------------------------------------------------------------------------------------------
# a. private names across modules
# --------------------------------------------------------------------------------------------------
#: names starting with "_" that are public API of their (non-kernapprox) owner
PUBLIC_UNDERSCORE_API = {
    "_asdict", "_replace", "_fields", "_make", "_field_defaults",      # namedtuple's documented API
    "_getframe",                                                        # sys._getframe (CPython's API)
}


def _module_aliases(modname: str, tree: ast.Module) -> dict[str, str]:
    """Local name -> kernapprox module, for every import (at any level) that binds a module."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("kernapprox"):
                    if a.asname:
                        aliases[a.asname] = a.name
                    else:
                        aliases[a.name.split(".")[0]] = "kernapprox"
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(modname, node)
            if base is None:
                continue
            for a in node.names:
                full = f"{base}.{a.name}"
                if _is_module(full):
                    aliases[a.asname or a.name] = full
    return aliases


def _defined_privates(tree: ast.Module) -> set[str]:
    """Private names this module defines itself (functions, classes, attributes it assigns)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" \
                and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
            names.add(str(node.args[1].value))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("_") \
                and node.value.isidentifier():
            names.add(node.value)         # __slots__ entries, object.__setattr__(self, "_x", …)
    return {n for n in names if n.startswith("_")}


def _imported_objects(modname: str, tree: ast.Module) -> dict[str, str]:
    """Local name -> kernapprox module, for names imported from another module that are not modules
    (classes, functions, constants: their private attributes belong to that module)."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = _resolve(modname, node)
            if base is None or base == modname:
                continue
            for a in node.names:
                if not _is_module(f"{base}.{a.name}"):
                    out[a.asname or a.name] = base
    return out


def _private_access_violations(modname: str, tree: ast.Module | None = None) -> list[str]:
    tree = _parse(modname) if tree is None else tree
    aliases = _module_aliases(modname, tree)
    imported = _imported_objects(modname, tree)
    own = _defined_privates(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = _resolve(modname, node)
            if base is None or base == modname:
                continue
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__") \
                        and not _is_module(f"{base}.{a.name}"):
                    out.append(f"{_fmt(modname, node)}: from {base} import {a.name}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            if node.attr in PUBLIC_UNDERSCORE_API:
                continue
            val = node.value
            if isinstance(val, ast.Name) and val.id in aliases:
                target = aliases[val.id]
                if target != modname and not _is_module(f"{target}.{node.attr}"):
                    out.append(f"{_fmt(modname, node)}: {val.id}._{node.attr[1:]} (private name of {target})")
            elif isinstance(val, ast.Name) and val.id in ("self", "cls"):
                continue
            elif isinstance(val, ast.Name) and val.id in imported:
                out.append(f"{_fmt(modname, node)}: {ast.unparse(node)} (private attribute of an object of "
                           f"{imported[val.id]})")
            elif node.attr not in own:
                # obj._attr where this module never defines `_attr`: a private of another module's object
                out.append(f"{_fmt(modname, node)}: {ast.unparse(node)} (private attribute defined elsewhere)")
    return out


def test_no_private_cross_module_access():
    bad = [v for m in SOURCES for v in _private_access_violations(m)]
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


# --------------------------------------------------------------------------------------------------
# b. import graph
# --------------------------------------------------------------------------------------------------
def _import_targets(modname: str, node) -> list[str]:
    """kernapprox modules an import statement loads: the named module and the packages above it.

    A package that contains ``modname`` is always initialised before ``modname`` runs, so it counts
    only when the statement reads a name (not a submodule) from it, e.g. ``from .. import approximate``.
    """
    names = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names if a.name.startswith("kernapprox")]
    elif isinstance(node, ast.ImportFrom):
        base = _resolve(modname, node)
        if base is not None:
            subs = [f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}")]
            reads_names = len(subs) < len(node.names)
            names = subs + ([base] if reads_names or not modname.startswith(base + ".") else [])
    out = []
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            sub = ".".join(parts[:i])
            ancestor = modname.startswith(sub + ".")
            if _is_module(sub) and sub != modname and (not ancestor or sub == name):
                out.append(sub)
    return out


def _module_level_imports(tree: ast.Module):
    """Import statements run at import time: module and class bodies, ``if``/``try``/``with`` blocks,
    not function bodies and not ``if TYPE_CHECKING:`` blocks."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        else:
            for field in ("body", "orelse", "finalbody", "handlers"):
                stack.extend(getattr(node, field, []) or [])


def _import_graph() -> dict[str, set[str]]:
    graph = {}
    for m in SOURCES:
        edges = set()
        for node in _module_level_imports(_parse(m)):
            edges.update(_import_targets(m, node))
        graph[m] = edges - {m}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index, low, onstack, stack, sccs = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        onstack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in onstack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                onstack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sccs


def test_module_level_import_graph_is_acyclic():
    cycles = _cycles(_import_graph())
    assert not cycles, "import circles between kernapprox modules:\n" + "\n".join(" <-> ".join(c) for c in cycles)


#: the internal bottom layer imports nothing above it (ARCHITECTURE.md "Layers"), even lazily
BOTTOM_LAYER = ("kernapprox._numba", "kernapprox._tiling", "kernapprox._random")


def test_bottom_layer_imports_nothing_above_it():
    bad = []
    for m in SOURCES:
        if not m.startswith(BOTTOM_LAYER):
            continue
        for node in ast.walk(_parse(m)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for t in _import_targets(m, node):
                    if not t.startswith(BOTTOM_LAYER + ("kernapprox._validation",)) and t != "kernapprox":
                        bad.append(f"{_fmt(m, node)}: imports {t}")
    assert not bad, "bottom-layer modules importing upwards:\n" + "\n".join(bad)


# --------------------------------------------------------------------------------------------------
# c. namespaces
# --------------------------------------------------------------------------------------------------
#: ALL_CAPS names allowed in an ``__all__``: enumerations of the names a choice parameter accepts
ENUMERATIONS = {
    "kernapprox.attention.KINDS": "exact attention targets accepted by `kind`",
    "kernapprox.features.KINDS": "feature-map kinds accepted by random_features(kind=)",
    "kernapprox.sketch.KINDS": "sketch kinds accepted by make_sketch(kind)",
    "kernapprox.sampling.METHODS": "samplers accepted by sample_landmarks(method=)",
    "kernapprox.ffkernel.FFKINDS": "feature-map kinds accepted by FFKernelFeatureMap(kind=)",
    "kernapprox.datasets.clouds.CLOUDS": "point-cloud names",
    "kernapprox.datasets.qkv.QKV_KINDS": "generators accepted by synthetic_qkv(kind=)",
    "kernapprox.oracle.VARIANTS": "oracle case variants accepted by case(variant=)",
    "kernapprox.oracle.DTYPES": "storage dtypes accepted by case(dtype=)",
    "kernapprox.attention.SAFEGUARDS": "range safeguards accepted by `safeguard`",
    "kernapprox.bootstrap.METRICS": "error metrics accepted by bootstrap_error_quantile(metric=)",
    "kernapprox.nystrom_general.AUGMENTED_RULES": "landmark rules accepted by augmented_nystrom(landmarks=)",
    "kernapprox.nystrom_general.ATTENTION_CORES": "core policies accepted by augmented_nystrom(core=)",
}
#: experiment modules: the contract names of design.md §4.7
EXPERIMENT_CONTRACT = {"Config", "FULL", "QUICK", "run", "plot"}


def _public_module(name: str):
    return importlib.import_module(name)


def test_dir_of_the_package_lists_public_names_only():
    names = dir(ka)
    assert not [n for n in names if n.startswith("_") and n != "__version__"], names
    assert "annotations" not in names and "importlib" not in names
    assert set(ka.__all__) <= set(names)
    for sub in ("attention", "datasets", "experiments", "sklearn", "testing", "kernels"):
        assert sub in names
    for name in ka.__all__:
        assert getattr(ka, name) is not None


def test_dir_of_attention_lists_public_names_only():
    names = dir(ka.attention)
    leaked = [n for n in names if n.startswith("_") or n in ("np", "inspect", "importlib", "fail", "annotations")]
    assert not leaked, f"dir(ka.attention) shows {leaked}"
    assert set(ka.attention.methods()) <= set(names), "the attention methods belong in dir(ka.attention)"


def _enumeration_objects() -> list:
    """The allowed enumerations themselves (a namespace that re-exports one may list it too)."""
    out = []
    for key in ENUMERATIONS:
        mod, name = key.rsplit(".", 1)
        obj = getattr(importlib.import_module(mod), name, None)     # an owner may retire one
        if obj is not None:
            out.append(obj)
    return out


def _all_violations(modname: str) -> list[str]:
    mod = _public_module(modname)
    enums = _enumeration_objects()
    path = SOURCES[modname].relative_to(ROOT)
    if not hasattr(mod, "__all__"):
        return [f"{path}: no __all__"]
    out = []
    experiment = modname.startswith("kernapprox.experiments.")
    for name in mod.__all__:
        if not hasattr(mod, name):
            out.append(f"{path}: __all__ names {name!r}, which does not exist")
        elif name.startswith("_") and name != "__version__":
            out.append(f"{path}: __all__ names the private {name!r}")
        elif inspect.ismodule(getattr(mod, name)):
            out.append(f"{path}: __all__ names the module {name!r} (list submodules in __dir__ only)")
        elif name.isupper() and not any(getattr(mod, name) is e for e in enums) \
                and not (experiment and name in EXPERIMENT_CONTRACT):
            out.append(f"{path}: __all__ names the constant {name!r} (not an allowed enumeration)")
    return out


def test_every_public_module_has_a_clean_all():
    bad = [v for m in PUBLIC_MODULES for v in _all_violations(m)]
    assert not bad, "__all__ problems:\n" + "\n".join(bad)


# --------------------------------------------------------------------------------------------------
# d. vocabulary of public signatures
# --------------------------------------------------------------------------------------------------
#: parameter names the glossary replaces (ARCHITECTURE.md "Vocabulary"): name -> glossary name
BANNED = {
    "rank": "k", "n_landmarks": "k", "c": "k", "r": "k", "n_components": "k",
    "num_features": "n_features", "fail_prob": "delta", "idx": "indices", "reg": "lam",
    "gamma": "lam", "rule": "landmarks",
}
#: (qualified name, parameter) -> why the name is right there. Keep it short.
VOCABULARY_EXCEPTIONS = {
    ("kernapprox.kernels.Polynomial", "gamma"): "kernel scale of (gamma x·y + coef0)^degree, scikit-learn's name",
    ("kernapprox.kernels.Sigmoid", "gamma"): "kernel scale of tanh(gamma x·y + coef0), scikit-learn's name",
    ("kernapprox.features.TensorSketchFeatures", "gamma"): "the polynomial kernel's scale",
    ("kernapprox.experiments.nystrom_kpca.Config", "n_components"):
        "a key of the recorded provenance figures/data/nystrom-kpca.json (test_figures pins it)",
}
#: modules exempt from one banned name, with the reason
MODULE_VOCABULARY = {
    "kernapprox.sklearn": ({"n_components"}, "scikit-learn's convention for the size of a transform"),
}
#: (qualified name, **name) -> reason; beyond these, ``**options`` is allowed only on dispatchers
VAR_KEYWORD_EXCEPTIONS = {
    ("kernapprox.kernels.get", "params"): "constructor parameters of the named kernel (validated by it)",
}
#: the choice parameters that make a verb a dispatcher (its ``**options`` belong to the chosen variant)
DISPATCHER_CHOICES = {"method", "kind", "sketch"}


def _callables(mod):
    """(qualified name, function, qualified name of the __all__ entry, the class or None) for every
    public function and method (a class's ``__init__`` under the class's name) reachable from ``__all__``."""
    for name in getattr(mod, "__all__", ()):
        obj = getattr(mod, name, None)
        qn = f"{getattr(obj, '__module__', None) or mod.__name__}.{getattr(obj, '__qualname__', name)}"
        if inspect.isclass(obj):
            if not (getattr(obj, "__module__", "") or "").startswith("kernapprox"):
                continue
            for attr, f in vars(obj).items():
                if isinstance(f, (staticmethod, classmethod)):
                    f = f.__func__
                if attr.startswith("_") and attr not in ("__init__", "__call__"):
                    continue
                if inspect.isfunction(f):
                    yield (qn if attr == "__init__" else f"{qn}.{attr}"), f, qn, obj
            if "__init__" not in vars(obj) and hasattr(obj, "__dataclass_fields__"):
                yield qn, obj, qn, obj
        elif inspect.isfunction(obj) or (callable(obj) and hasattr(obj, "__wrapped__")):
            yield qn, obj, qn, None


def _doc_entry(doc: str, param: str) -> str:
    """The numpydoc entry of ``param`` (its ``name : type`` line and the indented lines under it)."""
    lines = (doc or "").splitlines()
    for i, line in enumerate(lines):
        head = line.split(" : ")[0] if " : " in line else line.rstrip(":")
        if param in [h.strip() for h in head.split(",")] and line.strip():
            indent = len(line) - len(line.lstrip())
            out = [line]
            for nxt in lines[i + 1:]:
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                    break
                out.append(nxt)
            return "\n".join(out)
    return ""


def _warns_for(func, param: str, owner=None) -> bool:
    """``param`` is a deprecated alias: the docstring entry of the parameter says so (numpydoc, in the
    function's or the class's docstring), or the source emits the warning naming it (a string literal
    beside ``DeprecationWarning`` / ``deprecated_alias``). For a class's ``__init__`` any method of the
    class may resolve it (scikit-learn estimators do so in ``fit``)."""
    for f in (func, owner):
        if f is None:
            continue
        if re.search("deprecat", _doc_entry(inspect.getdoc(f) or "", param), re.I):
            return True
        try:
            src = inspect.getsource(f)
        except (OSError, TypeError):
            continue
        if re.search(r"DeprecationWarning|deprecated_alias", src) and re.search(rf"['\"]{re.escape(param)}['\"]", src):
            return True
    return False


def _signature_violations(modname: str) -> list[str]:
    mod = _public_module(modname)
    exempt, _ = MODULE_VOCABULARY.get(modname, (set(), ""))
    out = []
    for qn, f, owner, cls in _callables(mod):
        try:
            sig = inspect.signature(f)
        except (TypeError, ValueError):
            continue
        choices = DISPATCHER_CHOICES & set(sig.parameters)
        for p in sig.parameters.values():
            if p.name in BANNED and p.name not in exempt and (owner, p.name) not in VOCABULARY_EXCEPTIONS \
                    and not _warns_for(f, p.name, cls if qn == owner else None):
                out.append(f"{qn}: parameter `{p.name}` (glossary: `{BANNED[p.name]}`; or a deprecated alias "
                           "that warns)")
            if p.name == "rng" and p.kind is not p.KEYWORD_ONLY:
                out.append(f"{qn}: `rng` must be keyword-only")
            if p.kind is p.VAR_KEYWORD and (qn, p.name) not in VAR_KEYWORD_EXCEPTIONS \
                    and not (p.name == "options" and (choices or modname.startswith("kernapprox.attention"))):
                out.append(f"{qn}: **{p.name} (only `**options` of a dispatcher with a method/kind choice)")
    return out


def test_public_signatures_use_the_glossary():
    bad = sorted({v for m in PUBLIC_MODULES for v in _signature_violations(m)})
    assert not bad, "vocabulary violations:\n" + "\n".join(bad)


def test_glossary_is_written_down():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert "## Vocabulary" in text
    for banned, name in BANNED.items():
        assert f"`{name}`" in text, f"ARCHITECTURE.md's glossary does not define `{name}`"


# --------------------------------------------------------------------------------------------------
# e. history in docstrings and comments; one citation per theorem
# --------------------------------------------------------------------------------------------------
HISTORY = [
    (re.compile(r"\bissues?\s*#?\d", re.I), "issue number"),
    (re.compile(r"(?<![\w&])#\d+\b"), "#number"),
    (re.compile(r"from memory", re.I), "'from memory'"),
    (re.compile(r"\[M:"), "'[M:' marker"),
    (re.compile(r"has not landed", re.I), "'has not landed'"),
    (re.compile(r"did not help", re.I), "'did not help'"),
    (re.compile(r"since the follow-up", re.I), "'since the follow-up'"),
]
#: canonical citations: (what, pattern of any citation of the paper, group that must equal, value)
CITATIONS = [
    ("RPCholesky (Chen, Epperly, Tropp, Webber) is CPAM 2025", re.compile(r"CPAM\s*(\d{4})"), "2025"),
    ("RPCholesky's main bound is CPAM 2025, Thm 2.3",
     re.compile(r"(?:CPAM\s*\d{4}|2207\.06503)[^§]{0,60}?(?:Thm\.?|Theorem)\s*(\d+(?:\.\d+)*)"), "2.3"),
]


def _prose(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every comment and docstring of a Python file."""
    src = path.read_text(encoding="utf-8")
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            out.append((tok.start[0], tok.string))
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc and node.body:
                out.append((node.body[0].lineno, doc))
    return out


def _prose_files() -> list[Path]:
    return sorted(p for p in list(PKG.rglob("*.py")) + list(TESTS.rglob("*.py")) if "__pycache__" not in p.parts)


def test_no_history_in_docstrings_and_comments():
    bad = []
    for path in _prose_files():
        for line, text in _prose(path):
            for pat, what in HISTORY:
                for m in pat.finditer(text):
                    bad.append(f"{path.relative_to(ROOT)}:{line}: {what}: ...{text[max(0, m.start() - 30):m.end() + 30]!r}")
    assert not bad, "history in docstrings/comments:\n" + "\n".join(bad)


def test_theorems_are_cited_one_way():
    bad = []
    for path in _prose_files():
        for line, text in _prose(path):
            flat = " ".join(text.split())
            for what, pat, want in CITATIONS:
                for m in pat.finditer(flat):
                    if m.group(1) != want:
                        bad.append(f"{path.relative_to(ROOT)}:{line}: {m.group(0)!r} ({what})")
    assert not bad, "inconsistent citations:\n" + "\n".join(bad)


# --------------------------------------------------------------------------------------------------
# the checks themselves (so that a passing run means something)
# --------------------------------------------------------------------------------------------------
def test_checks_catch_what_they_claim():
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    fake = ast.parse("from .matrix import _x, KernelMatrix\nfrom . import cholesky as ch\nfrom ._numba import dense\n"
                     "ch._eps\nKernelMatrix._count\nobj._elsewhere\nself._mine = 1\nself._mine\ndense.tile_shape\n")
    found = _private_access_violations("kernapprox.kernels", fake)
    assert len(found) == 4 and all(any(w in f for f in found) for w in ("_x", "ch._eps", "_count", "_elsewhere"))
    assert HISTORY[0][0].search("see issue 4") and not HISTORY[1][0].search("color '#1f77b4'")
    assert HISTORY[1][0].search("fixed in #12")
    assert CITATIONS[1][1].search("Chen et al., CPAM 2024 Thm 3.1").group(1) == "3.1"


#: the top-level names of design.md §3 (the public contract)
DESIGN_CONTRACT = ("__version__", "Gaussian", "Laplacian", "Matern", "Polynomial", "Linear", "Sigmoid",
                   "Exponential", "kernel_matvec", "KernelMatrix", "sample_landmarks", "nystrom", "rpcholesky",
                   "spectral_error", "as_matrix", "PSDLowRank", "SymLowRank", "LowRank")


@pytest.mark.parametrize("name", DESIGN_CONTRACT)
def test_design_contract_names_are_public_api(name):
    assert name in ka.__all__ and name in dir(ka)
    assert getattr(ka, name) is not None


def test_design_contract_submodules():
    for sub in ("attention", "sklearn"):
        assert sub in dir(ka) and sub not in ka.__all__
    assert callable(ka.attention.exact) and callable(ka.attention.approximate)
