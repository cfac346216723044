"""One module per page: its routes, each turning a request into library calls and a template."""
