#!/usr/bin/env python3
"""The public header parses with cffi's cdef() unmodified and declares every
exported symbol (architecture rules 10 and 11).

usage: check_header_cffi.py <perdure.h> <libperdure.so>

- ffi.cdef(<the header's text>) must succeed. The one warning cffi gives about
  `#pragma` (it ignores `#pragma once`) is allowed; every other warning is an
  error.
- ffi.dlopen(<libperdure.so>) must succeed, and every symbol that
  `nm -D --defined-only` lists must be an attribute of the opened library:
  an exported function the header does not declare is unreachable from a
  binding.
- Conversely, every function the header declares must be exported: a binding
  would fail on first use of one that is not.
"""
import re
import subprocess
import sys
import warnings


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    header, library = argv[1], argv[2]
    import cffi

    with open(header, encoding="utf-8") as f:
        text = f.read()

    ffi = cffi.FFI()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=r"#pragma in cdef\(\)", category=UserWarning)
        try:
            ffi.cdef(text)
        except Exception as e:  # cffi.CDefError, pycparser errors, promoted warnings
            print(f"{header}: cffi cdef() failed: {type(e).__name__}: {e}", file=sys.stderr)
            return 1

    lib = ffi.dlopen(library)

    nm = subprocess.run(["nm", "-D", "--defined-only", library], check=True, capture_output=True, text=True)
    symbols = sorted({line.split()[-1] for line in nm.stdout.splitlines() if line.strip()})
    if not symbols:
        print(f"{library}: no symbols exported", file=sys.stderr)
        return 1

    missing = []
    for name in symbols:
        try:
            getattr(lib, name)
        except AttributeError:
            missing.append(name)
    if missing:
        print(f"exported from {library} but not declared in {header}:", file=sys.stderr)
        for name in missing:
            print(f"  {name}", file=sys.stderr)
        return 1

    code = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    # "name(" declares a function; "type (*name)(" is a function pointer type.
    declared = sorted(set(re.findall(r"\b(perdure_\w+)\s*\((?!\s*\*)", code)))
    unexported = [name for name in declared if name not in symbols]
    if unexported:
        print(f"declared in {header} but not exported from {library}:", file=sys.stderr)
        for name in unexported:
            print(f"  {name}", file=sys.stderr)
        return 1
    print(f"{header}: parsed by cffi {cffi.__version__}; all {len(symbols)} exported symbols declared, "
          f"all {len(declared)} declared functions exported")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
