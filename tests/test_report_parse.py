"""The fast record parser gives exactly what the safe YAML loader gives, or refuses the same."""

from __future__ import annotations

import collections
import dataclasses
import datetime

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from votakvot import _records, _yaml
from votakvot.exceptions import TrialLoadError, UnreadableValueWarning

Point = collections.namedtuple("Point", "x y")


@dataclasses.dataclass
class Box:
    width: int
    label: str


def parse(text: str | bytes) -> object:
    raw = text.encode() if isinstance(text, str) else text
    return _records.parse_record(raw, "t/votakvot.yaml")


def same(text: str) -> None:
    assert parse(text) == _yaml.load(text)


keys = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
    st.sampled_from(["yes", "no", "on", "null", "True", "1", "a b", "a: b", "x #y", "-", "é"]),
    st.text(max_size=6),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(
        ["yes", "No", "1e3", "1_000", "0x1f", "017", "1:30", "~", "-", "- x", "a: b", "x #y",
         "'q'", '"dq"', "{a}", "[1]", "2021-05-20", "2021-05-20 15:00:00", ".inf", "-.5", "=",
         "<<", "@x", "`x", "tab\tin", "é ü", "😀", "line\nbreak", " lead", "trail ", "\\u00e9"]
    ),
    st.datetimes(timezones=st.sampled_from([datetime.UTC, datetime.timezone(
        datetime.timedelta(hours=5, minutes=30))])),
    st.dates(),
)
trees = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=20,
)
records = st.dictionaries(keys, trees, min_size=1, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_same_as_safe_loader_for_what_the_writer_emits(record: dict) -> None:
    """Any record our writer emits parses to the very value the safe loader returns."""
    same(_yaml.dump(record))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_same_as_safe_loader_for_pyyaml_layouts(record: dict) -> None:
    """Records written by PyYAML itself (other quoting and layout) parse the same too."""
    same(yaml.safe_dump(record, sort_keys=False, allow_unicode=True))
    same(yaml.safe_dump(record, sort_keys=False, default_flow_style=True))


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb:\n  c: |\n    one\n\n    three\n  d: 2\n",
        "a: 1 # comment\n# full line comment\nb: 2\n",
        "a: {x: 1, y: [1, 2]}\nb: [a, b]\n",
        "a: 1\r\nb: two\r\n",
        "\ufeffa: 1\n",
        "a: &x 1\nb: *x\n",
        "a:\n- x: 1\n  y: 2\n- 3\nb: 4\n",
        "a:\n  - 1\n  - 2\nb: 3\n",
        "a: plain\n  continued\nb: 1\n",
        "a: 'single ''quoted'''\nb: \"esc \\x41 \\u00e9\"\n",
        "? complex\n: value\n",
        "---\na: 1\n...\n",
        "a:\nb:\n",
        "a: !!python/tuple [1, 2]\nb: !!set {x: null}\n",
        pytest.param(
            "a: !custom 5\n",  # an unknown tag: read as a placeholder, with a warning
            marks=pytest.mark.filterwarnings("ignore::votakvot.exceptions.UnreadableValueWarning"),
        ),
        "'quoted key': 1\n\"k2\": 2\n",
        "a: 1\n\n\nb: 2\n",
        "a:    spaced\n",
        "a: -5\nb: -.inf\nc: +7\nd: 1_0\ne: 0o7\nf: 0b11\ng: 190:20:30\n",
        "a: 1\n\ufeff\nb: 2\n",
        "a:\n  x: 1\n\ufeff\nb: 2\n",
    ],
)
def test_odd_layouts_read_like_the_safe_loader(text: str) -> None:
    """Layouts the fast path does not take (flow, anchors, block scalars...) still read right."""
    same(text)


@pytest.mark.parametrize(
    "text",
    [
        "!!python/object/new:subprocess.Popen [[touch, x]]\na: 1\n",
        "!!python/tuple [1]\na: 1\n",
        "a: 1\n\ufeffb: 2\n",
    ],
)
def test_what_the_safe_loader_refuses_is_refused(text: str) -> None:
    """A top-level chunk that is a tagged object, or a section split by a stray
    U+FEFF, is refused as the safe loader refuses it, never merged into the record."""
    with pytest.raises(yaml.YAMLError):
        _yaml.load(text)
    with pytest.raises(TrialLoadError):
        parse(text)


def test_python_tags_load_as_tagged_mappings_without_importing() -> None:
    """Namedtuples and dataclasses come back as mappings of their fields that keep the tag."""
    data = parse(_yaml.dump({"tid": "t", "result": Point(1, 2), "info": {"box": Box(3, "b")}}))
    assert isinstance(data["result"], _yaml.Tagged)
    assert dict(data["result"]) == {"x": 1, "y": 2}
    assert data["result"].tag.endswith("Point")
    assert dict(data["info"]["box"]) == {"width": 3, "label": "b"}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "the file is empty"),
        (b"  \n\n", "the file is empty"),
        (b"a: \xff\xfe\n", "not UTF-8 text (byte 0xff at offset 3)"),
        (b"a: [1, 2\nb: 3\n", "not valid YAML"),
        (b"- 1\n- 2\n", "expected a mapping of fields, found list"),
        (b"just text\n", "expected a mapping of fields, found str"),
        (b"a: \x00\n", "not valid YAML"),
    ],
)
def test_bad_files_raise_naming_the_file_and_reason(raw: bytes, reason: str) -> None:
    """Every kind of bad file gives a TrialLoadError carrying its name and what is wrong."""
    with pytest.raises(TrialLoadError) as info:
        _records.parse_record(raw, "some/dir/votakvot.yaml")
    assert info.value.path == "some/dir/votakvot.yaml"
    assert reason in info.value.reason


def test_code_running_tags_are_placeholders_never_run(tmp_path) -> None:
    """A tag that would call a function is kept inert, with one warning naming the
    file and the field; the rest of the record is read, and nothing is called."""
    marker = tmp_path / "ran"
    raw = f"tid: x\nresult: !!python/object/apply:os.system ['touch {marker}']\n".encode()
    with pytest.warns(UnreadableValueWarning) as info:
        data = _records.parse_record(raw, "x/votakvot.yaml")
    assert data["tid"] == "x"
    assert isinstance(data["result"], _yaml.Placeholder)
    assert data["result"].tag == "python/object/apply:os.system"
    assert len(info) == 1
    assert "x/votakvot.yaml" in str(info[0].message)
    assert "'result'" in str(info[0].message)
    assert "os.system" in str(info[0].message)
    assert not marker.exists()


def test_deep_nesting_is_a_load_error_not_a_crash() -> None:
    """A pathologically nested file is refused with a TrialLoadError."""
    text = "".join(f"{'  ' * i}k:\n" for i in range(5000)) + f"{'  ' * 5000}k: 1\n"
    with pytest.raises(TrialLoadError):
        parse(text)


def test_repeated_sections_are_copies_unless_shared() -> None:
    """Cached sections (meta) are never the same object twice unless the caller asked."""
    text = "tid: a\nstate: done\nresult: 1\nmeta:\n  git:\n    commit: abc\n"
    one, two = parse(text), parse(text)
    assert one == two
    assert one["meta"] is not two["meta"]
    one["meta"]["git"]["commit"] = "changed"
    assert parse(text)["meta"]["git"]["commit"] == "abc"
    raw = text.encode()
    assert (
        _records.parse_record(raw, "x", shared=True)["meta"]
        is _records.parse_record(raw, "x", shared=True)["meta"]
    )


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"state": "done"}, "no 'tid' field"),
        ({"tid": "a"}, "no 'state' field"),
        ({"tid": "a", "state": "done"}, "state is 'done' but there is no 'result'"),
        ({"tid": "a", "state": "failed"}, "state is 'failed' but there is no 'error'"),
    ],
)
def test_incomplete_records_are_refused(record: dict, reason: str) -> None:
    """A record missing the key its state ends with was cut short, and says so."""
    with pytest.raises(TrialLoadError, match=reason):
        _records.check_record(record, "f")


def test_complete_records_pass() -> None:
    """A running trial needs no result; a done one with a None result is whole."""
    assert _records.check_record({"tid": "a", "state": "running"}, "f")
    assert _records.check_record({"tid": "a", "state": "done", "result": None}, "f")


@pytest.mark.parametrize(
    "text",
    [
        "a:\n    b: 1\n  c: 2\n",
        "a:\n  b: 1\n c: 2\n",
        "a:\n  - 1\n  b: 2\n",
        "a:\n- 1\n  - 2\n",
        "a: 1\n b: 2\n",
        "a:\n  b:\n  - x\n  -\n",
        "a:\n  b:\n    - x\n  c: 1\n",
        "a: b: c\n",
        "a:\n  b: 1\n\n  c: 2\n",
    ],
)
def test_odd_indentation_reads_or_fails_like_the_safe_loader(text: str) -> None:
    """Indentation the writer never makes gives the loader's value, or an error if it errs."""
    try:
        expected = _yaml.load(text)
    except yaml.YAMLError:
        with pytest.raises(TrialLoadError):
            parse(text)
    else:
        assert parse(text) == expected
