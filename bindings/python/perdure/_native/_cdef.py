"""perdure.h as a cffi out-of-line ABI module (what `ffi.set_source(name, None)`
and `ffi.emit_python_code` write).

Parsing the header with pycparser takes longer than everything else `import
perdure` does, so it is done once per header: the module written here holds
cffi's precompiled type tables, and importing it parses nothing. The module's
name carries a hash of the header and of the cffi backend's version, so a
changed header (or a cffi upgrade) never meets a stale module.

setup.py writes the module of the packaged header next to it; a development
header gets its module in the user's cache (see perdure._native). Imports only
the standard library, so setup.py can load this file before perdure is
installed.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path


def module_name(header: bytes, backend_version: str) -> str:
    digest = hashlib.sha256(header + b"\0" + backend_version.encode()).hexdigest()[:20]
    return f"_perdure_cffi_{digest}"


def parse(header: bytes):
    """A cffi.FFI that knows every declaration of the header."""
    import cffi

    ffi = cffi.FFI()
    with warnings.catch_warnings():
        # cffi ignores `#pragma once`; its warning about it is noise.
        warnings.filterwarnings("ignore", message=r"#pragma in cdef\(\)", category=UserWarning)
        ffi.cdef(header.decode("utf-8"))
    return ffi


def emit(header: bytes, directory: Path) -> Path:
    """Writes the module for header into directory (atomically: concurrent
    first imports may race) and returns its path."""
    import tempfile

    import _cffi_backend
    from cffi.recompiler import make_py_source   # emit_python_code, without its "generating ..." line

    name = module_name(header, _cffi_backend.__version__)
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".py", dir=directory)
    os.close(fd)
    try:
        make_py_source(parse(header), name, tmp)
        os.chmod(tmp, 0o644)   # mkstemp's 0600 would hide an installed module from other users
        path = directory / f"{name}.py"
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path
