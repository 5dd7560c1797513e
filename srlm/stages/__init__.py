"""Pipeline stages: each turns named inputs into named outputs and metrics, nothing else.

The orchestrator (``srlm.pipeline``) decides the order, the store keys and what is skipped.
"""
