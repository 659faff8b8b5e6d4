"""The generated corpus: the validator accepts every valid call and rejects every invalid one."""

from __future__ import annotations

from collections import Counter

import pytest

from proxmox_operator_mcp.errors import SchemaValidationError, UnknownEndpointError
from proxmox_operator_mcp.schema import get_schema

from .corpus import Call, generate_corpus


@pytest.fixture(scope="module")
def corpus() -> tuple[list[Call], list[Call]]:
    return generate_corpus(get_schema(), seed=0)


def test_corpus_covers_at_least_300_endpoints_both_ways(corpus: tuple[list[Call], list[Call]]) -> None:
    valid, invalid = corpus
    schema = get_schema()
    valid_endpoints = {schema.resolve(c.method, c.path)[0] for c in valid}
    assert len(valid_endpoints) >= 300
    invalid_endpoints = {(c.method, c.path.split("/")[1]) for c in invalid}
    assert len(invalid) >= 300 and invalid_endpoints


def test_corpus_breaks_every_kind_of_rule(corpus: tuple[list[Call], list[Call]]) -> None:
    kinds = Counter(c.reason.split(" '")[0] for c in corpus[1])
    for kind in (
        "unknown parameter",
        "missing required",
        "wrong type for",
        "object for string",
        "above maximum of",
        "below minimum of",
        "bad enum value for",
        "bad format for",
        "bad property string for",
        "pattern mismatch for",
        "bad path parameter",
    ):
        assert kinds[kind] > 0, kind


def test_validator_accepts_every_valid_call(corpus: tuple[list[Call], list[Call]]) -> None:
    schema = get_schema()
    rejected = []
    for call in corpus[0]:
        try:
            schema.validate(call.method, call.path, call.params)
        except (SchemaValidationError, UnknownEndpointError) as exc:
            rejected.append((call, exc.message))
    assert rejected == []


def test_validator_rejects_every_invalid_call(corpus: tuple[list[Call], list[Call]]) -> None:
    schema = get_schema()
    accepted = []
    for call in corpus[1]:
        try:
            schema.validate(call.method, call.path, call.params)
        except SchemaValidationError:
            continue
        accepted.append(call)
    assert accepted == []


def test_corpus_is_reproducible_for_a_seed() -> None:
    schema = get_schema()
    assert generate_corpus(schema, seed=7) == generate_corpus(schema, seed=7)
