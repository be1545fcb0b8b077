"""The C engine, loaded once with cffi in ABI mode.

`lib` is libperdure; `ffi` knows every declaration of perdure.h. The header is
handed to cffi unmodified (the project keeps it cffi-clean), compiled once into
an out-of-line module (_cdef.py) so that importing does not parse C: the
package ships the module of its own header; any other header's is written to
$XDG_CACHE_HOME/perdure (~/.cache/perdure) on first use, or, where that cannot
be written, the header is parsed at every import.

Where the files come from, first match wins:
- PERDURE_LIBRARY / PERDURE_HEADER in the environment (a development build);
- the copies installed into this package by `pip install`;
- the repository's own build (`build/` at the top of a source checkout).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import _cffi_backend

from perdure._native import _cdef

_HERE = Path(__file__).resolve().parent
_SONAME = "libperdure.so.0"


def _repository_root() -> Path | None:
    for parent in _HERE.parents:
        if (parent / "ffi" / "include" / "perdure.h").is_file():
            return parent
    return None


def _locate() -> tuple[Path, Path, Path | None]:
    """(library, header, CLI executable or None)."""
    env_lib, env_header = os.environ.get("PERDURE_LIBRARY"), os.environ.get("PERDURE_HEADER")
    if (_HERE / _SONAME).is_file() and (_HERE / "perdure.h").is_file():
        lib, header, cli = _HERE / _SONAME, _HERE / "perdure.h", _HERE / "perdure"
    else:
        root = _repository_root()
        if root is None and not env_lib:
            raise ImportError("perdure: libperdure is not installed with this package and no "
                              "source checkout was found; set PERDURE_LIBRARY to libperdure.so.0")
        root = root or Path("/nonexistent")
        lib, header, cli = root / "build" / _SONAME, root / "ffi" / "include" / "perdure.h", root / "build" / "perdure"
    lib = Path(env_lib) if env_lib else lib
    header = Path(env_header) if env_header else header
    return lib, header, cli if cli.is_file() else None


LIBRARY_PATH, HEADER_PATH, CLI_PATH = _locate()


def _load_ffi(header: bytes):
    name = _cdef.module_name(header, _cffi_backend.__version__)
    path = _HERE / f"{name}.py"
    if not path.is_file():
        try:
            cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "perdure"
            path = cache / f"{name}.py"
            if not path.is_file():
                path = _cdef.emit(header, cache)
        except (OSError, RuntimeError):   # RuntimeError: no home directory
            return _cdef.parse(header)
    spec = importlib.util.spec_from_file_location(f"perdure._native.{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ffi


ffi = _load_ffi(HEADER_PATH.read_bytes())
try:
    lib = ffi.dlopen(str(LIBRARY_PATH))
except OSError as e:
    raise ImportError(f"perdure: cannot load {LIBRARY_PATH}: {e} (run scripts/setup to build it)") from e


def status_name(status: int) -> str:
    """perdure_status_name(): "PERDURE_E_DECODE" and so on."""
    return ffi.string(lib.perdure_status_name(status)).decode()


def take_buf(buf) -> bytes:
    """Copies an owned perdure_buf into bytes and frees it (perdure_buf_free)."""
    try:
        return bytes(ffi.buffer(buf.data, buf.len)) if buf.data != ffi.NULL and buf.len else b""
    finally:
        lib.perdure_buf_free(buf)


def text(ptr) -> str | None:
    """A borrowed NUL-terminated C string as str (None for NULL)."""
    return None if ptr == ffi.NULL else ffi.string(ptr).decode("utf-8", "replace")
