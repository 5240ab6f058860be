"""The C modules: the page scanner (tasks/dump/_pages.c) and the wikitext cleaner (tasks/dump/_wikitext.c),
which share tasks/dump/_text.h, and jieba's cut (tasks/text/_cut.c); everything else about the package is in
pyproject.toml."""

from setuptools import Extension, setup

SHARED = ["tasks/dump/_text.h"]

setup(
    ext_modules=[
        Extension("tasks.dump._pages", ["tasks/dump/_pages.c"], depends=SHARED),
        Extension("tasks.dump._wikitext", ["tasks/dump/_wikitext.c"], depends=SHARED),
        Extension("tasks.text._cut", ["tasks/text/_cut.c"]),
    ]
)
