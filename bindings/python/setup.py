"""Builds libperdure and the `perdure` CLI with meson and ships them inside the
package (perdure/_native/), so `pip install bindings/python` is self-contained.

Needs what scripts/setup installs (meson, ninja, a C compiler, the -dev
packages) and cffi, which compiles perdure.h into perdure/_native once here
(_cdef.py). PERDURE_BUILD_DIR reuses an existing meson build instead.
"""
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


class BuildWithEngine(build_py):
    def run(self):
        super().run()
        build_dir = os.environ.get("PERDURE_BUILD_DIR")
        if build_dir:
            build = Path(build_dir).resolve()
        else:
            build = Path(self.get_finalized_command("build").build_temp).resolve() / "meson"
            if not (build / "build.ninja").is_file():
                subprocess.run(["meson", "setup", str(build), str(ROOT), "--buildtype=release",
                                "-Db_ndebug=true"], check=True)
        subprocess.run(["ninja", "-C", str(build), "libperdure.so.0.1.0", "perdure"], check=True)
        target = Path(self.build_lib) / "perdure" / "_native"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(build / "libperdure.so.0.1.0", target / "libperdure.so.0")
        shutil.copy2(build / "perdure", target / "perdure")
        shutil.copy2(ROOT / "ffi" / "include" / "perdure.h", target / "perdure.h")
        # cffi's compiled form of that header, so that importing perdure parses no C
        for stale in target.glob("_perdure_cffi_*.py"):
            stale.unlink()
        _cdef().emit((target / "perdure.h").read_bytes(), target)


def _cdef():
    """perdure/_native/_cdef.py, loaded by path: the package is not importable yet."""
    spec = importlib.util.spec_from_file_location("_perdure_cdef", HERE / "perdure" / "_native" / "_cdef.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


setup(cmdclass={"build_py": BuildWithEngine})
