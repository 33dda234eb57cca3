"""The private-test decoder: real-format payloads decode; pickles that run code are refused."""

from __future__ import annotations

import base64
import json
import os
import pickle
import zlib
from pathlib import Path

import pytest

from apr_eval.benchmarks.lcb_decode import decode_compressed, encode_compressed, parse_tests
from apr_eval.errors import DataError

# A real value of codeforces 1873_A's private_test_cases (release_v1), as upstream stores it.
UPSTREAM_1873A = (
    "eJxrYJmaz8gABhEZQEZ0tVJmXkFpiZKVgpJhTF5iUnJMnpKOglJ+aQlUNNI1GCJUklpcUlJZkAoSLC5JycxTqtVRQ"
    "NJuDNWOILAYhCCIMdI0Ji85MQloWjKQSE5KjMlLSgSam5SciG64nz+y2WACJESMJWYY7ibFG8T5KnaKHgAcinnp")


def test_decodes_a_real_upstream_value() -> None:
    tests = parse_tests(UPSTREAM_1873A)
    assert len(tests) == 4
    assert tests[0].input == "1\nabc\n" and tests[0].output == "YES\n"
    assert tests[2].output == "NO\nYES\nYES\nYES\nNO\n"
    assert {t.testtype for t in tests} == {"stdin"}


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_decodes_payloads_built_like_upstream(protocol: int) -> None:
    cases = [{"input": "[1, 2]\n3", "output": "[3]", "testtype": "functional"},
             {"input": "é" * 300, "output": "x" * 70000, "testtype": "functional"}]
    payload = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(cases),
                                                          protocol=protocol))).decode()
    tests = parse_tests(payload)
    assert [(t.input, t.output) for t in tests] == [(c["input"], c["output"]) for c in cases]


def test_plain_json_field_is_read_as_json() -> None:
    assert parse_tests('[{"input": "1", "output": "2", "testtype": "stdin"}]')[0].output == "2"


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [0, 1, 2, 4, 5])
def test_refuses_a_pickle_that_calls_a_function(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "ran"
    evil = pickle.dumps(_Evil(marker), protocol=protocol)
    assert b"system" in evil  # really a GLOBAL/STACK_GLOBAL + REDUCE pickle of os.system
    payload = base64.b64encode(zlib.compress(evil)).decode()
    with pytest.raises(DataError, match="refused pickle opcode"):
        parse_tests(payload, "p1 private_test_cases")
    assert not marker.exists()


def test_refuses_a_string_smuggled_beside_a_call(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    evil = pickle.dumps(("[]", _Evil(marker)), protocol=4)
    with pytest.raises(DataError, match="refused"):
        decode_compressed(base64.b64encode(zlib.compress(evil)).decode())
    assert not marker.exists()


def test_requires_a_str() -> None:
    payload = base64.b64encode(zlib.compress(pickle.dumps([1, 2], protocol=4))).decode()
    with pytest.raises(DataError, match="refused pickle opcode"):
        parse_tests(payload)
    payload = base64.b64encode(zlib.compress(pickle.dumps(b"[]", protocol=4))).decode()
    with pytest.raises(DataError):
        parse_tests(payload)


@pytest.mark.parametrize("field", ["not json, not base64 !!!", base64.b64encode(b"junk").decode(),
                                   encode_compressed("{not json")])
def test_corrupt_fields_are_one_clear_error(field: str) -> None:
    with pytest.raises(DataError) as err:
        parse_tests(field, "abc999_z private_test_cases")
    assert "abc999_z private_test_cases" in str(err.value)
    assert "\n" not in str(err.value)


def test_tests_must_have_the_upstream_keys() -> None:
    with pytest.raises(DataError, match="missing key"):
        parse_tests(encode_compressed('[{"input": "1", "testtype": "stdin"}]'))
