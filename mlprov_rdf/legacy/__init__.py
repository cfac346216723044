"""`mlprov import-mlprovcodegen`: provenance files written by MLProvCodeGen → plans and legacy runs.

MLProvCodeGen (the JupyterLab extension mlprov succeeds) wrote one PROV-JSON file per run,
in several formats over its versions. The subpackage reads them in layers: ``values``
(decoding one field), ``source`` (any format → one normalised view), ``mapping`` (its
semantics → the task's parameters, with a note for every choice the file does not state),
``planfile`` (the plan), ``run`` (the legacy run graph) and ``importing`` (one file or a
folder into the store). Nothing is written before a file has been read and validated; a file
it cannot read is refused with one line that names the file and what is missing.
"""

from .importing import FolderImport, ImportResult, import_file, import_folder

__all__ = ["FolderImport", "ImportResult", "import_file", "import_folder"]
