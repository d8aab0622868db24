"""Root conftest: loads this repository's fixtures and the whisperbench plugin, nothing else.

The folder ``fixtures/`` shares its name with a PyPI package; pytest puts the rootdir first on
``sys.path`` (``pythonpath = ["."]`` in pyproject.toml), so ours is the one imported
(tests/test_layout.py proves it).
"""

pytest_plugins = [
    "whisperbench.pytest_plugin",
    "whisperbench.pytest_gate",
    "fixtures.audio",
    "fixtures.session",
]
