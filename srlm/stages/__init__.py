"""The stages of the loop, each declared once (``StageDef``: name, version, the config paths it
reads, its upstream stages, its outputs) with the body that does its work.

``srlm.runner`` keys, locks, skips, times and records them; ``srlm.pipeline`` says their order.
"""
