"""The engine process (ZeroMQ server, journal, supervised worker) and its thin client.

Nothing is imported here: ``plugin_host.client`` must load without numpy or
torch, while ``plugin_host.server`` pulls in foley_engine.
"""
