"""The bottom layer: settings, errors, ids, URIs, executors and the plugin hooks."""
