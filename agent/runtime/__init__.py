"""The runtime: moves data between the adapters and the pure core.

sources -> observations -> derive -> decide -> actions -> executors -> facts.
"""
