"""Data sets that ship with mlprov, so that notebooks that read them run offline.

A package, so that notebooks find the files through ``importlib.resources`` in a wheel
and in a checkout alike. README.md says where each file comes from.
"""
