"""The public API surface is deliberate: adding or removing a name is a decision."""

import importlib
import json
import pkgutil
import subprocess
import sys
import types
from typing import Any

import pytest

import scorer

EXPECTED = {
    "BackendError",
    "CacheError",
    "ConfigError",
    "Dimension",
    "FatalBackendError",
    "InputError",
    "InvalidOutputError",
    "Paper",
    "RequestRefusedError",
    "RetryExhausted",
    "RetryPolicy",
    "Review",
    "Rubric",
    "RubricError",
    "Sampling",
    "Score",
    "ScoredPaper",
    "Scorer",
    "ScorerError",
    "Settings",
    "UnsupportedMethodError",
    "Usage",
    "__version__",
    "ascore",
    "ascore_many",
    "builtin_rubric_names",
    "load_rubric",
    "score",
    "score_many",
}


def test_exported_names_are_pinned() -> None:
    assert set(scorer.__all__) == EXPECTED


def test_every_exported_name_exists() -> None:
    for name in scorer.__all__:
        assert hasattr(scorer, name), name


def test_error_tree_has_one_root() -> None:
    errors = [
        getattr(scorer, n) for n in scorer.__all__ if n.endswith("Error") or n == "RetryExhausted"
    ]
    for error in errors:
        assert issubclass(error, scorer.ScorerError), error
    assert issubclass(scorer.RetryExhausted, scorer.BackendError)
    assert issubclass(scorer.FatalBackendError, scorer.BackendError)
    assert issubclass(scorer.InvalidOutputError, scorer.BackendError)


# Each package's documented names. A name in a package's namespace that is not
# here is a leak (an implementation module or an import made public by accident).
PACKAGE_EXPORTS = {
    "scorer.pandas": {"score_frame"},
    "scorer.ray": {"score_dataset"},
    "scorer.sources": {"DEFAULT_ARXIV_URL", "arxiv_query", "fetch_arxiv"},
    "scorer.testing": {"BatchPlay", "FakeOpenAI", "Personality", "PromptCache", "Reply"},
    "scorer.service": {"DEFAULT_MAX_BATCH", "DEFAULT_MAX_BODY_BYTES", "create_app", "serve"},
    "scorer.backends": {"Backend", "Completion", "OpenAICompatBackend", "backend_for"},
    "scorer.engine": {
        "BatchSummary",
        "PaperLike",
        "ResultCache",
        "Scorer",
        "cache_key",
        "dedupe_papers",
        "paper_identity",
        "run_batch",
    },
    "scorer.prompt": {
        "MAX_JUSTIFICATION",
        "PaperLimits",
        "PromptTemplate",
        "bounded_paper",
        "load_prompt",
    },
    "scorer.methods": {
        "METHOD_HELP",
        "MethodSpec",
        "ScoringMethod",
        "method_for",
        "method_spec_for",
        "parse_method",
        "response_model_for",
    },
    "scorer.io": {
        "BATCH_FORMATS",
        "BatchOutputs",
        "CsvWriter",
        "JsonlWriter",
        "Labelled",
        "PAPER_FIELDS",
        "PAPER_FORMATS",
        "ProblemHandler",
        "REQUIRED_FIELDS",
        "RESULT_PREFIX",
        "ResultWriter",
        "RowProblem",
        "check_batch_outputs",
        "check_digest_outputs",
        "check_outputs",
        "check_overrides",
        "inputs_of",
        "missing_required",
        "open_sinks",
        "paper_columns",
        "paper_from_record",
        "read_input",
        "read_labelled",
        "read_paper_json",
        "read_papers",
        "read_scored",
        "resolve_columns",
        "save_papers",
        "staged_outputs",
        "write_digests",
    },
    "scorer.daily": {
        "DailyConfig",
        "DailyReport",
        "Delivery",
        "DeliveryState",
        "load_config",
        "render_email_html",
        "run_daily",
    },
    "scorer.digest": {
        "DIGEST_RENDERERS",
        "Digest",
        "render_atom",
        "render_html",
        "render_markdown",
    },
    "scorer.eval": {
        "EvalReport",
        "EvalRun",
        "LabelledPaper",
        "LabelledScore",
        "cohen_kappa",
        "estimate_cost",
        "evaluate",
        "format_table",
        "parse_price",
        "price_usage",
        "render_eval_html",
        "run_eval",
        "similarity_scores",
    },
}

# Submodules a user may import by name: the subpackages, and the fake server's command
# (``python -m scorer.testing.fake_openai``). Every other module is private (``_name``).
PUBLIC_SUBMODULES = {
    "scorer": {
        "backends",
        "cli",
        "daily",
        "digest",
        "engine",
        "eval",
        "io",
        "methods",
        "pandas",
        "prompt",
        "ray",
        "service",
        "sources",
        "testing",
    },
    "scorer.testing": {"fake_openai"},
}


def survey(names: list[str]) -> dict[str, dict[str, Any]]:
    """Each package's ``__all__`` and public names, with every module of scorer imported.

    Importing every module binds each submodule on its parent, and touching every
    exported name binds what the package loads lazily: the namespace a user sees
    at its fullest. In this process, since a test worker has imported them all
    already to collect the doctests (a fresh interpreter paid 5 s of CPU for the
    same imports); importing binds names and nothing a test could have removed.
    """
    for info in pkgutil.walk_packages(scorer.__path__, "scorer."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        module = importlib.import_module(name)
        for attr in module.__all__:
            getattr(module, attr)
        public = {k: isinstance(v, types.ModuleType) for k, v in vars(module).items()}
        out[name] = {"all": list(module.__all__), "public": public}
    return out


@pytest.fixture(scope="module")
def namespaces() -> dict[str, dict[str, Any]]:
    return survey(["scorer", *PACKAGE_EXPORTS])


@pytest.mark.parametrize("package", ["scorer", *PACKAGE_EXPORTS])
def test_a_package_exposes_exactly_its_documented_names(
    package: str, namespaces: dict[str, dict[str, Any]]
) -> None:
    expected = EXPECTED if package == "scorer" else PACKAGE_EXPORTS[package]
    survey = namespaces[package]
    assert set(survey["all"]) == expected
    public = {name: is_module for name, is_module in survey["public"].items() if name[0] != "_"}
    names = {name for name, is_module in public.items() if not is_module}
    assert names == expected - {"__version__"}
    modules = {name for name, is_module in public.items() if is_module}
    assert modules <= PUBLIC_SUBMODULES.get(package, set())


def test_importing_scorer_pulls_in_no_package() -> None:
    """``import scorer`` (what ``scorer --help`` pays for) binds no subpackage yet."""
    run = subprocess.run(
        [sys.executable, "-c", "import json, scorer, sys; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = {name for name in json.loads(run.stdout) if name.startswith("scorer")}
    assert loaded == {"scorer", "scorer._errors", "scorer._lazy"}
