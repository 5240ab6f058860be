"""The compiled wikitext cleaner (tasks/_prose.c); everything else about the package is in pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("tasks._prose", ["tasks/_prose.c"])])
