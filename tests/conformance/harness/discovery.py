"""Requirement files and handler files.

Requirements: <requirements>/<suite>/<id>.yaml, read at run time (never copied into the repository).
Handlers (python): <handlers>/<suite>/<id>.py exposing `handler`. Module-level declarations, read with `ast`
(no user code is imported into the harness):
    NOT_IMPLEMENTED = "reason"           the case is a declared gap
    TARGET_FUNCTION_NAME = "target_echo" exported to the case's worker as $TARGET_FUNCTION_NAME
<handlers>/<suite>/__init__.py may set NOT_IMPLEMENTED for every id of the suite without a handler file.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TARGETS = ("target_echo", "target_error", "target_slow", "target_non_durable")


class DeclarationError(Exception):
    pass


@dataclass
class Requirement:
    suite: str
    id: str
    path: Path

    @property
    def name(self) -> str:
        return f"{self.suite}/{self.id}"

    @property
    def function_name(self) -> str:
        return f"{self.suite}-{self.id}"


def id_key(case_id: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[-.]", case_id))


def discover_requirements(root: Path) -> list[Requirement]:
    reqs = []
    for suite_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in suite_dir.glob("*.yaml"):
            reqs.append(Requirement(suite=suite_dir.name, id=f.stem, path=f))
    reqs.sort(key=lambda r: (id_key(r.id), r.suite))
    return reqs


def select(reqs: list[Requirement], only: list[str] | None) -> list[Requirement]:
    """`--only`: ids (1-1), suite/id (step/1-1) or suite names (step)."""
    if not only:
        return reqs
    picked: list[Requirement] = []
    unknown = []
    for token in only:
        hits = [r for r in reqs if token in (r.id, r.name, r.suite)]
        if not hits:
            unknown.append(token)
        for r in hits:
            if r not in picked:
                picked.append(r)
    if unknown:
        raise ValueError(f"unknown requirement id(s): {', '.join(unknown)}")
    picked.sort(key=lambda r: (id_key(r.id), r.suite))
    return picked


# ---- python declarations -------------------------------------------------------------------------------------

def _python_module_strings(path: Path, names: tuple[str, ...]) -> dict[str, Any]:
    """Module-level `NAME = <literal>` / `NAME: T = <literal>` assignments (last one wins). A value that is not a
    literal raises DeclarationError: the harness does not run user code to find it."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as e:
        raise DeclarationError(f"{path}: syntax error: {e}") from e
    found: dict[str, Any] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        value = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for t in targets:
            if isinstance(t, ast.Name) and t.id in names:
                try:
                    found[t.id] = ast.literal_eval(value)
                except ValueError as e:
                    raise DeclarationError(f"{path}:{node.lineno}: {t.id} must be a string literal") from e
    return found


_JS_DECL = re.compile(
    r"""^\s*(?:export\s+(?:const|let|var)\s+|(?:module\.)?exports\.)(NOT_IMPLEMENTED|TARGET_FUNCTION_NAME)\s*=\s*
        (?P<q>['"`])(?P<v>(?:\\.|(?!(?P=q)).)*)(?P=q)""", re.M | re.X)


def _js_module_strings(path: Path, names: tuple[str, ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for m in _JS_DECL.finditer(path.read_text(encoding="utf-8")):
        if m.group(1) in names:
            found[m.group(1)] = m.group("v")
    return found


@dataclass
class Language:
    name: str
    extensions: tuple[str, ...]
    suite_files: tuple[str, ...]
    read_declarations: Any   # (path, names) -> dict


LANGUAGES = {
    "python": Language("python", (".py",), ("__init__.py",), _python_module_strings),
    "node": Language("node", (".js", ".mjs"), ("index.js", "index.mjs"), _js_module_strings),
}


@dataclass
class HandlerInfo:
    """What the handlers directory says about one requirement."""
    handler_file: Path | None = None
    not_implemented: str | None = None      # reason, when declared
    declared_in: Path | None = None
    target_function_name: str | None = None
    problem: str | None = None              # a bad declaration: the case fails with this


def handler_info(handlers: Path, req: Requirement, lang: Language) -> HandlerInfo:
    info = HandlerInfo()
    suite_dir = handlers / req.suite
    for ext in lang.extensions:
        f = suite_dir / f"{req.id}{ext}"
        if f.is_file():
            info.handler_file = f
            break
    try:
        if info.handler_file is not None:
            decl = lang.read_declarations(info.handler_file, ("NOT_IMPLEMENTED", "TARGET_FUNCTION_NAME"))
            source = info.handler_file
        else:
            decl, source = {}, None
            for name in lang.suite_files:
                f = suite_dir / name
                if f.is_file():
                    decl = lang.read_declarations(f, ("NOT_IMPLEMENTED",))
                    source = f
                    break
    except DeclarationError as e:
        info.problem = str(e)
        return info
    if "NOT_IMPLEMENTED" in decl:
        reason = decl["NOT_IMPLEMENTED"]
        if not isinstance(reason, str):
            info.problem = f"{source}: NOT_IMPLEMENTED must be a string (the reason), got {reason!r}"
        elif not reason.strip():
            info.problem = f"{source}: NOT_IMPLEMENTED needs a reason"
        else:
            info.not_implemented = reason.strip()
            info.declared_in = source
    if "TARGET_FUNCTION_NAME" in decl:
        target = decl["TARGET_FUNCTION_NAME"]
        if not isinstance(target, str) or not target:
            info.problem = f"{source}: TARGET_FUNCTION_NAME must be a non-empty string, got {target!r}"
        else:
            info.target_function_name = target
    return info


def target_files(handlers: Path, lang: Language) -> dict[str, Path]:
    """The invoke targets that exist: name -> handler file."""
    found = {}
    for t in TARGETS:
        for ext in lang.extensions:
            f = handlers / "_targets" / f"{t}{ext}"
            if f.is_file():
                found[t] = f
                break
    return found
