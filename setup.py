"""The C modules: the wikitext cleaner (tasks/dump/_prose.c) and jieba's cut (tasks/text/_cut.c);
everything else about the package is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("tasks.dump._prose", ["tasks/dump/_prose.c"]),
        Extension("tasks.text._cut", ["tasks/text/_cut.c"]),
    ]
)
