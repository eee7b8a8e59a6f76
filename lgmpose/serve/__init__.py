"""``lgmpose serve``: pose estimation over HTTP and a live web page (the ``serve`` extra).

- :mod:`lgmpose.serve.service`: settings and the per-process estimator (no web framework);
- :mod:`lgmpose.serve.images`: request bytes -> image, with size and truncation checks;
- :mod:`lgmpose.serve.app`: the FastAPI application (``create_app``);
- :mod:`lgmpose.serve.loadtest`: a bounded load test against a local server.

Importing this package imports no web framework.
"""
