"""mlprov-rdf: reproducible machine-learning experiments through RDF provenance.

Kept free of imports: the kernel-side capture module lives in this package and
must stay fast to import.
"""

__version__ = "0.1.0"
