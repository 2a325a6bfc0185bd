"""k8s/modules.py: the NetworkPolicies it derives from the modules' needs,
and that --check notices when the committed files no longer follow them."""
import importlib.util
import json
import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("k8s_modules", ROOT / "k8s" / "modules.py")
modules = importlib.util.module_from_spec(spec)
spec.loader.exec_module(modules)

CATALOG = [
    {"name": "users", "summary": "u", "needs": [], "route_prefixes": ["/users"]},
    {"name": "orders", "summary": "o", "needs": ["users"], "route_prefixes": ["/orders"]},
    {"name": "stock_levels", "summary": "s", "needs": ["users", "orders"],
     "route_prefixes": ["/stock_levels"]},
    {"name": "gateway", "summary": "g", "needs": [], "route_prefixes": []},
]


def components(peers):
    """The components a `from`/`to` list selects (Mitos pods only)."""
    out = set()
    for p in peers:
        sel = p["podSelector"]
        if "matchLabels" in sel:
            assert sel["matchLabels"]["app.kubernetes.io/name"] == "mitos"
            out.add(sel["matchLabels"]["app.kubernetes.io/component"])
        else:
            exprs = {e["key"]: e for e in sel["matchExpressions"]}
            assert exprs["app.kubernetes.io/name"]["values"] == ["mitos"]
            out.update(exprs["app.kubernetes.io/component"]["values"])
    return out


def policies():
    files = modules.generated(CATALOG)
    return {path.split("/")[2]: yaml.safe_load(text)
            for path, text in files.items() if path.endswith("networkpolicy.yaml")}


def test_every_module_has_its_folder_named_for_kubernetes():
    files = modules.generated(CATALOG)
    assert "k8s/base/stock-levels/module.yaml" in files
    m = yaml.safe_load(files["k8s/base/stock-levels/module.yaml"])
    assert m["metadata"]["name"] == "stock-levels"
    assert m["spec"] == {"module": "stock_levels", "config": "stock_levels.yaml"}
    assert "k8s/base/gateway/kustomization.yaml" not in files


def test_ingress_is_the_gateway_and_the_modules_that_need_it():
    p = policies()
    assert components(p["users"]["spec"]["ingress"][0]["from"]) == {
        "gateway", "orders", "stock-levels"}
    assert components(p["orders"]["spec"]["ingress"][0]["from"]) == {"gateway", "stock-levels"}
    assert components(p["stock-levels"]["spec"]["ingress"][0]["from"]) == {"gateway"}
    assert "from" not in p["gateway"]["spec"]["ingress"][0]  # any client
    for policy in p.values():
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        assert [port["port"] for port in policy["spec"]["ingress"][0]["ports"]] == [8080]


def test_egress_is_what_it_needs_dns_and_the_collector():
    p = policies()
    to_modules = lambda name: [
        components(rule["to"]) for rule in p[name]["spec"]["egress"]
        if "podSelector" in rule["to"][0] and "namespaceSelector" not in rule["to"][0]]
    assert to_modules("users") == []
    assert to_modules("orders") == [{"users"}]
    assert to_modules("stock-levels") == [{"orders", "users"}]
    assert to_modules("gateway") == [{"orders", "stock-levels", "users"}]
    for policy in p.values():
        ports = {(port["protocol"], port["port"])
                 for rule in policy["spec"]["egress"] for port in rule["ports"]}
        assert ports <= {("TCP", 8080), ("UDP", 53), ("TCP", 53), ("TCP", 4318)}
        assert {("UDP", 53), ("TCP", 4318)} <= ports


def test_check_fails_when_the_needs_change(tmp_path, capsys):
    catalog = [
        {"name": "users", "summary": "u", "needs": [], "route_prefixes": ["/users"]},
        {"name": "orders", "summary": "o", "needs": ["users"], "route_prefixes": ["/orders"]},
        {"name": "products", "summary": "p", "needs": ["users"], "route_prefixes": ["/products"]},
        {"name": "gateway", "summary": "g", "needs": [], "route_prefixes": []},
    ]
    path = tmp_path / "modules.json"
    path.write_text(json.dumps(catalog))
    assert modules.main(["--check", "--modules-json", str(path)]) == 1
    out = capsys.readouterr().out
    assert "k8s/base/users/networkpolicy.yaml differs" in out
    assert "k8s/base/products/networkpolicy.yaml differs" in out
    assert "config/split/products.yaml: remotes.users.url must be http://users:8080" in out
