"""``mlprov serve``: a read-only web app over the store, for looking across runs.

A thin layer, as Datasette's is: each page module under ``pages/`` turns a request into a
call on the library (the query library, ``runs_table``, ``diff``, ``browse``) and renders a
Jinja template; nothing here writes to the store. ``app`` assembles the routes, ``context``
holds what every page shares (the store, the templates, links and the time limit).
"""

from .app import create_app

__all__ = ["create_app"]
