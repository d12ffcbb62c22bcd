"""Python access to nomnom plugins: load any plugin nomnom-host loads and parse messages with it.

    import nomnom
    with nomnom.Plugin("build/plugins/tpch.so") as plugin:
        rows = plugin.parse(open("order.json", "rb").read(), subject="messages.ingest.Order")
        # {"orders": [{"order_key": "O12345", ...}], "order_line_items": [...]}

Rows go through the same checks as in the host (types, NOT NULL, finite numbers, whole rows), so
a message the host would refuse raises Invalid here with the same reason.
"""
from ._plugin import Column, Fatal, Invalid, Plugin, PluginError, Result, Retry, Table

__all__ = ["Column", "Fatal", "Invalid", "Plugin", "PluginError", "Result", "Retry", "Table"]
