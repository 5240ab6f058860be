"""The C modules: the page scanner (tasks/dump/_pages.c) and the wikitext cleaner (tasks/dump/_wikitext.c),
which share tasks/dump/_text.h, and jieba's cut (tasks/text/_cut.c); and the build step that copies the files
zhvec ships with (tasks/bundled: the default pipelines.yaml, data/sample, data/eval, data/dicts, the tutorial
script) into the wheel's tasks/bundled/, at their paths in the source tree. Everything else about the package
is in pyproject.toml.

The C is compiled with -Wall -Wextra, and with the flags in ZHVEC_CFLAGS added (CI sets -Werror there: a
warning fails its build, while a user's newer compiler only warns)."""

import os
import runpy
import shlex
import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent
SHIPPED = runpy.run_path(str(HERE / "tasks" / "bundled" / "__init__.py"))["SHIPPED"]


class BuildWithShipped(build_py):
    """build_py, plus the shipped files (an editable install reads them in place instead)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "tasks" / "bundled"
        for relative in SHIPPED:
            source, copy = HERE / relative, target / relative
            if source.is_dir():
                shutil.copytree(source, copy, dirs_exist_ok=True)
            else:
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, copy)


SHARED = ["tasks/dump/_text.h"]
CFLAGS = ["-Wall", "-Wextra", *shlex.split(os.environ.get("ZHVEC_CFLAGS", ""))]

setup(
    cmdclass={"build_py": BuildWithShipped},
    ext_modules=[
        Extension("tasks.dump._pages", ["tasks/dump/_pages.c"], depends=SHARED, extra_compile_args=CFLAGS),
        Extension(
            "tasks.dump._wikitext", ["tasks/dump/_wikitext.c"], depends=SHARED, extra_compile_args=CFLAGS
        ),
        Extension("tasks.text._cut", ["tasks/text/_cut.c"], extra_compile_args=CFLAGS),
    ],
)
