"""``mlprov sweep``: a grid (or a random draw) of derived plans, run in parallel, recorded as one sweep.

Layers: ``grid`` expands ``-p NAME=V1,V2`` into points; ``points`` derives and checks every
point's plan before anything runs; ``task`` is what a worker executes (one notebook in its
own kernel, its journal sent back as text); ``executor`` runs the tasks in this process or on
a Dask cluster; ``record`` is the sweep's RDF; ``running`` ties them together, ingesting each
run on the client as it finishes, since the embedded store allows one writer.
"""
