"""Optimisation models for fulfilment: courier routing and order allocation.

This package knows nothing of the simulation: it takes plain problem objects
(dataclasses holding numpy arrays) and returns plans, so a planner or a benchmark
can call it on its own data.
"""
