"""The layers point one way: front ends -> public API -> pipeline -> cues -> fusion / gazetteer ->
core vocabulary. Every import of a project module, at any depth (inside functions too), must point
to the same or a lower layer."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Source folder -> the package it installs as.
PACKAGES = {"geosleuth": "geosleuth", "cues": "geosleuth.cues", "fusion": "geosleuth.fusion",
            "gazetteer": "geosleuth.gazetteer", "configs": "geosleuth.configs"}
# Lowest first; a module belongs to the longest prefix listed.
LAYERS = (
    ("geosleuth", "geosleuth.errors", "geosleuth.geo", "geosleuth.sun", "geosleuth.artifact", "geosleuth.cache",
     "geosleuth.config", "geosleuth.configs", "geosleuth.photo", "geosleuth.metadata", "geosleuth.labels"),
    ("geosleuth.gazetteer", "geosleuth.fusion"),
    ("geosleuth.cues",),
    ("geosleuth.results", "geosleuth.observation"),
    ("geosleuth.interpret",),
    ("geosleuth.hints",),
    ("geosleuth.pipeline", "geosleuth.preflight"),
    ("geosleuth.api",),
    ("geosleuth.album",),
    ("geosleuth.app",),
)


def layer(module: str) -> int:
    matches = [(len(prefix), rank) for rank, prefixes in enumerate(LAYERS) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"{module} is in no layer: add it to LAYERS"
    return max(matches)[1]


def modules() -> dict[str, Path]:
    out = {}
    for folder, package in PACKAGES.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([package, *parts])] = path
    return out


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m == "geosleuth" or m.startswith("geosleuth.")}


def test_every_import_points_down():
    upward = [f"{name} ({LAYERS[layer(name)][0]}) imports {target} ({LAYERS[layer(target)][0]})"
              for name, path in modules().items() for target in imports(path) if layer(target) > layer(name)]
    assert upward == []


def test_the_layer_rule_catches_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from geosleuth.app.cli import main\n")
    assert layer("geosleuth.cues.text") < layer(next(iter(imports(bad))))


def test_no_relative_imports():
    relative = [str(p) for p in modules().values()
                if any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(ast.parse(p.read_text())))]
    assert relative == []
