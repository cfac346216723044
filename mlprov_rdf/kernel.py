"""A Jupyter kernel that has mlprov: this environment's Python, registered by name.

JupyterLab or papermill started from another environment pick that environment's
``python3`` kernel, which cannot import ``mlprov_rdf``. ``mlprov kernel install`` registers
this environment's interpreter (ipykernel's own installer, as ``python -m ipykernel install``
does), and generated notebooks name that kernel in their kernelspec when it is there.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import tempfile
from pathlib import Path

from .errors import UserError

log = logging.getLogger(__name__)

#: The kernel's name, as notebooks name it and ``jupyter kernelspec list`` shows it.
KERNEL_NAME = "mlprov"
DISPLAY_NAME = "Python (mlprov-rdf)"
_FALLBACK = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def install_kernel(*, name: str = KERNEL_NAME, display_name: str = DISPLAY_NAME, user: bool = True,
                   prefix: Path | None = None) -> Path:
    """Register this interpreter as the kernel ``name``: for the user, or under ``prefix``
    (``sys.prefix`` for ``--sys-prefix``). Returns the kernelspec's folder."""
    if importlib.util.find_spec("ipykernel") is None:
        raise UserError("kernel install needs ipykernel in this environment: pip install 'mlprov-rdf[ml]' (or ipykernel)")
    from ipykernel.kernelspec import install

    if not name or not all(c.isalnum() or c in "._-" for c in name):
        raise UserError(f"--name {name!r}: a kernel name is letters, digits and . _ - only")
    try:
        # ipykernel writes the spec into a mkdtemp folder and removes only the spec inside it:
        # its folder is made inside one of ours, which goes, so /tmp keeps nothing.
        with tempfile.TemporaryDirectory(prefix="mlprov-kernelspec-") as scratch:
            before, tempfile.tempdir = tempfile.tempdir, scratch
            try:
                where = install(kernel_name=name, display_name=display_name, user=user and prefix is None,
                                prefix=str(prefix) if prefix is not None else None)
            finally:
                tempfile.tempdir = before
    except OSError as error:
        raise UserError(f"kernel install: cannot write the kernelspec ({error.strerror or error}); "
                        "use --user, or --sys-prefix in an environment you own") from None
    log.info("kernel %s installed at %s for %s", name, where, sys.executable)
    return Path(where)


def notebook_kernelspec() -> dict[str, str]:
    """The kernelspec a generated notebook names: the mlprov kernel where one is installed,
    else ``python3``."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except (ImportError, NoSuchKernel):
        return dict(_FALLBACK)
    return {"display_name": spec.display_name, "language": spec.language or "python", "name": KERNEL_NAME}
