"""The public API surface is deliberate: adding or removing a name is a decision."""

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
