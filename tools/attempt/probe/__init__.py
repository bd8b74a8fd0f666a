"""The pytest plugin `tools attempt` injects into the pytest runs it captures.

This folder is put on the tested interpreter's PYTHONPATH and the plugin loaded with
`-p _tools_attempt_probe`; the module needs nothing but the standard library and pytest, because
it runs in the tested environment, which need not have `tools` installed.
"""
