"""Simulation engine: Numba kernels, processes that map territory fields to them, and the loop.

Importing ``engine`` loads NumPy, Numba and ``tim.model`` only - never the GIS, 3D or web stack.
"""
