"""The Multus-specific plugins of multus-config.

Each module is an ordinary pluggy plugin, registered through the
``multus_config`` entry-point group in ``pyproject.toml`` exactly as a
third-party plugin would be.
"""
