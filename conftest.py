"""Root conftest: loads the whisperbench plugin, nothing else.

Installed, whisperbench registers both modules below through its ``pytest11`` entry points,
named after the modules; pytest then skips them here (``import_plugin`` returns for a name
already registered), so nothing is registered twice. In a checkout that is not installed, or
with ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``, this list is what loads them
(tests/test_layout.py checks both). The suite's fixtures ship in the package
(``whisperbench.pytest_fixtures``, re-exported by the plugin).
"""

pytest_plugins = [
    "whisperbench.pytest_plugin",
    "whisperbench.pytest_gate",
]
