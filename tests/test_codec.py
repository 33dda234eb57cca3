import json
import math
from collections import Counter, OrderedDict, namedtuple

import pytest

from apr_eval.sandbox import codec


def roundtrip(value):
    return codec.decode(json.loads(json.dumps(codec.encode(value))))


@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 10**50, 10**5000, 1.5, -0.0, "héllo", b"\x00\xff",
    [1, [2, [3]]], (1, (2,)), {1, 2}, frozenset({"a"}), {1: "a", (1, 2): [3]},
    complex(1, -2), {"$t": [1]}, [(1, 2), {3: {4}}],
], ids=lambda v: type(v).__name__)
def test_roundtrip_keeps_value_and_type(value):
    back = roundtrip(value)
    assert back == value
    assert type(back) is type(value)


def test_non_finite_floats():
    assert math.isnan(roundtrip(float("nan")))
    assert roundtrip(float("inf")) == math.inf
    assert roundtrip(float("-inf")) == -math.inf


def test_lying_eq_object_is_opaque_and_equals_nothing():
    class Liar:
        def __eq__(self, other):
            return True

    back = roundtrip(Liar())
    assert isinstance(back, codec.Opaque)
    assert back != 1 and not (back == back)
    assert back.type_name == "Liar"


def test_subclasses_encode_through_builtin_methods():
    class EvilStr(str):
        def __eq__(self, other):
            return True

        def __str__(self):
            return "forged"

    class EvilList(list):
        def __iter__(self):
            return iter([42])

    assert roundtrip(EvilStr("abc")) == "abc"
    assert type(roundtrip(EvilStr("abc"))) is str
    assert roundtrip(EvilList([1, 2])) == [1, 2]
    point = namedtuple("point", "x y")
    assert roundtrip(point(1, 2)) == (1, 2)
    assert roundtrip(Counter("aab")) == {"a": 2, "b": 1}
    assert roundtrip(OrderedDict(a=1)) == {"a": 1}


def test_too_deep_raises():
    deep: list = []
    for _ in range(codec.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(codec.EncodeError):
        codec.encode(deep)


def test_unknown_tag_rejected():
    with pytest.raises(codec.EncodeError):
        codec.decode({"$evil": 1})


def test_digest_respects_python_equality():
    d = codec.digest
    assert d([1, 2.0, True]) == d([1.0, 2, 1])
    assert d({1: "a", 2: "b"}) == d({2: "b", 1: "a"})
    assert d({3, 1, 2}) == d(frozenset({1, 2, 3}))
    assert d(1 + 0j) == d(1)
    assert d((1, 2)) != d([1, 2])
    assert d("ab") != d(b"ab")
    assert d(["ab", "c"]) != d(["a", "bc"])
    assert d(0.5) != d(1)


def test_no_digest_where_equality_is_not_structural():
    assert codec.digest([float("nan")]) is None
    assert codec.digest([object()]) is None
    assert codec.digest([1.5], allow_floats=False) is None
    assert codec.digest([1, 2], allow_floats=False) == codec.digest([1.0, 2.0])


def test_digest_fast_path_matches_slow_path():
    ints = [*range(-50, 50), 10**40]
    mixed = [float(i) for i in range(-50, 50)] + [10**40]  # forces the per-element path
    assert codec.digest(ints) == codec.digest(mixed)
    assert codec.digest([True, 2]) == codec.digest([1, 2])


def test_weight_is_the_same_for_equal_values():
    w = codec.weight
    pairs = [([1, 2.0, True], [1.0, 2, 1]), ({"a": [1, 2]}, {"a": (1, 2)}),
             ({3, 1, 2}, frozenset({1, 2, 3})), (("ab", b"cd"), ("ab", bytearray(b"cd"))),
             ([[1], ["xyz"]], [[1.0], ["xyz"]])]
    for a, b in pairs:
        assert w(a) == w(b)
    assert w([[1], ["xyz"]]) == 2 + 1 + 1 + 3 and w(7) == 0 and w("abc") == 3


def test_weight_stops_at_the_cap_on_shared_structures():
    x: list = [1]
    for _ in range(200):  # 10**200 paths: walking them all would never end
        x = [x] * 10
    assert codec.weight(x, cap=10_000) > 10_000


def test_weight_reads_subclasses_through_builtin_methods():
    class Liar(list):
        def __len__(self):
            return 0

        def __iter__(self):
            return iter(())

    assert codec.weight(Liar(["abc", [1, 2]])) == 2 + 3 + 2


def test_strings_only_sequences_digest_like_python_equality():
    class S(str):
        def __repr__(self):
            return "lie"

    d = codec.digest
    assert d(["ab", "c"]) == d([S("ab"), "c"])
    assert d(("ab", "c")) != d(["ab", "c"])
    assert d(["ab", "c"]) != d(["ab", "d"]) and d(["a'", "b"]) != d(["a", "'b"])
    assert d([("x", "y")] * 3) == d([("x", S("y"))] * 3)


def test_oversized_tag_decodes_to_a_value_equal_to_nothing():
    v = codec.decode({"$x": 5})
    assert isinstance(v, codec.Opaque) and v != v
