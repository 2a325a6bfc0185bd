"""The contract generator: a mistake in a contract fails with the file and
the line of the mistake; a good contract generates every file."""
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
GENERATOR = REPO / "cmake" / "contract" / "generate.py"

GOOD = """module: things
summary: "Things"
database: true
types:
  Thing:
    fields:
      id: {type: int64}
      name: {type: string}
  NewThing:
    fields:
      name: {type: string}
operations:
  Create:
    http: POST /things
    body: {name: thing, type: NewThing}
    returns: Thing
    created: true
  Get:
    http: GET /things/{id}
    returns: Thing
"""


def run(tmp_path, text):
    contract = tmp_path / "contract.yaml"
    contract.write_text(text)
    return subprocess.run([sys.executable, str(GENERATOR), str(contract), str(tmp_path / "out")],
                          capture_output=True, text=True)


def test_a_good_contract_generates_every_file(tmp_path):
    r = run(tmp_path, GOOD)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    for f in ("api/things/api.h", "module/things/contract.h", "things_codec.cpp",
              "things_contract.cpp", "things_contract_test.cpp", "things_fuzz.cpp",
              "fuzz_seeds/Create", "fuzz_seeds/Get"):
        assert (out / f).is_file(), f
    api = (out / "api/things/api.h").read_text()
    assert "virtual mitos::Task<mitos::StatusOr<Thing>> Create(NewThing thing) = 0;" in api


def test_the_fuzz_seeds_are_requests_built_from_the_examples(tmp_path):
    r = run(tmp_path, GOOD.replace("      name: {type: string}\noperations",
                                   "      name: {type: string, example: \"a thing\"}\noperations"))
    assert r.returncode == 0, r.stderr
    seeds = tmp_path / "out" / "fuzz_seeds"
    assert (seeds / "Create").read_text() == 'POST /things\napplication/json\n{"name":"a thing"}'
    assert (seeds / "Get").read_text() == "GET /things/1\n\n"


@pytest.mark.parametrize("old,new,line,message", [
    ("name: {type: string}\n  NewThing", "name: {type: strng}\n  NewThing", 8, "unknown type 'strng'"),
    ("http: GET /things/{id}", "http: FETCH /things/{id}", 19, "http must be"),
    ("    returns: Thing\n    created: true", "    returns: Thing\n    created: yes please", 17, "created must be true or false"),
    ("  Get:\n", "  Get:\n    colour: red\n", 19, "unknown key 'colour'"),
    ("body: {name: thing, type: NewThing}", "body: {name: thing, type: Nothing}", 15, "unknown body type 'Nothing'"),
])
def test_a_mistake_names_the_file_and_its_line(tmp_path, old, new, line, message):
    assert old in GOOD
    r = run(tmp_path, GOOD.replace(old, new))
    assert r.returncode == 1
    assert "contract.yaml:%d: " % line in r.stderr, r.stderr
    assert message in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()


def test_invalid_yaml_names_the_line(tmp_path):
    r = run(tmp_path, GOOD + "  Broken: [\n")
    assert r.returncode == 1
    assert "contract.yaml:" in r.stderr and "invalid YAML" in r.stderr, r.stderr
