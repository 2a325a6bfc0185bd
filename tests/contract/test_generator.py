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
    auth: {scope: "things:admin"}
  Get:
    http: GET /things/{id}
    returns: Thing
    auth: authenticated
  List:
    http: GET /things
    page: {default: 20, max: 100}
    returns: Thing
    key_order: sorted
    auth: public
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
    routes = (out / "things_contract.cpp").read_text()
    assert 'mitos::http::Access::Scope("things:admin")' in routes
    assert "mitos::http::Access::Authenticated()" in routes
    assert "mitos::http::Access::Public()" in routes
    api = (out / "api/things/api.h").read_text()
    assert "virtual mitos::Task<mitos::StatusOr<Thing>> Create(NewThing thing) = 0;" in api


def test_the_fuzz_seeds_are_requests_built_from_the_examples(tmp_path):
    r = run(tmp_path, GOOD.replace("      name: {type: string}\noperations",
                                   "      name: {type: string, example: \"a thing\"}\noperations"))
    assert r.returncode == 0, r.stderr
    seeds = tmp_path / "out" / "fuzz_seeds"
    assert (seeds / "Create").read_text() == 'POST /things\napplication/json\n{"name":"a thing"}'
    assert (seeds / "Get").read_text() == "GET /things/1\n\n"


def test_sorted_keys_get_their_own_encoder(tmp_path):
    sorted_list = GOOD.replace("      name: {type: string}\n  NewThing",
                               "      name: {type: string}\n      colour: {type: string}\n  NewThing")
    r = run(tmp_path, sorted_list)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    codec = (out / "things_codec.cpp").read_text()
    # The fields' order for Create and Get, alphabetical for List's items.
    assert ('void AppendJson(const Thing& v, std::string& out) {\n'
            '  out += "{\\"id\\":";') in codec
    assert ('void AppendSortedJson(const Thing& v, std::string& out) {\n'
            '  out += "{\\"colour\\":";') in codec
    assert "AppendSortedJson(const NewThing" not in codec
    routes = (out / "things_contract.cpp").read_text()
    assert "mitos::http::AppendPage(p, out, &EncodeSortedThing);" in routes
    assert "mitos::http::Reply(res, 200, r, &EncodeThing);" in routes
    test = (out / "things_contract_test.cpp").read_text()
    assert "ThingSortedKeysAreAJsonTreesOrder" in test


@pytest.mark.parametrize("old,new,line,message", [
    ("name: {type: string}\n  NewThing", "name: {type: strng}\n  NewThing", 8, "unknown type 'strng'"),
    ("http: GET /things/{id}", "http: FETCH /things/{id}", 20, "http must be"),
    ("    returns: Thing\n    created: true", "    returns: Thing\n    created: yes please", 17, "created must be true or false"),
    ("  Get:\n", "  Get:\n    colour: red\n", 20, "unknown key 'colour'"),
    ("body: {name: thing, type: NewThing}", "body: {name: thing, type: Nothing}", 15, "unknown body type 'Nothing'"),
    ("key_order: sorted", "key_order: alphabetical", 27, "key_order must be one of declared, sorted"),
    ("    auth: authenticated\n", "", 19, "auth"),
    ("auth: authenticated", "auth: everyone", 22, "auth of Get must be public, authenticated or {scope: <scope>}"),
    ('auth: {scope: "things:admin"}', 'auth: {scope: "things admin"}', 18, "auth.scope must be one scope token"),
    ("    returns: Thing\n    created: true", "    created: false\n    key_order: sorted", 17,
     "key_order needs an operation that returns a type"),
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
