"""The C modules: the wikitext cleaner (tasks/_prose.c) and jieba's cut (tasks/_cut.c); everything else
about the package is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("tasks._prose", ["tasks/_prose.c"]),
        Extension("tasks._cut", ["tasks/_cut.c"]),
    ]
)
