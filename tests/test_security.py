"""The dashboard's server guards (:mod:`viz.server`) on the real dashboard of a sample run:
headers, Host allow-list, body limit, files inside their root, login and roles, the audit log,
callback fuzzing (never a 500) and 50 concurrent sessions on waitress over loopback.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tim.errors import InputError
from viz import server

PASSWORD = "sesame-open-42"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, Path]:
    """A sample TIM, its baseline run and its building tiles, through the CLI."""
    from tim.sample import write_sample_sources
    from viz.cli import main

    root = tmp_path_factory.mktemp("secure")
    catalog = write_sample_sources(root / "src")
    assert main(["tim", "build", "--catalog", str(catalog), "--out", str(root / "tim")]) == 0
    assert main(["run", "baseline", "--tim", str(root / "tim"), "--out", str(root / "run")]) == 0
    assert main(["tiles", str(root / "tim"), "--out", str(root / "tiles"),
                 "--parts", "buildings"]) == 0
    return {"root": root, "run": root / "run", "tiles": root / "tiles"}


@pytest.fixture(scope="module")
def users_file(sample) -> Path:
    path = sample["root"] / "users.yaml"
    server.add_user(path, "vera", PASSWORD, "viewer")
    server.add_user(path, "ed", PASSWORD, "editor")
    return path


def _app(sample, security: server.Security):
    from viz.app import create_app

    app = create_app([sample["run"]], sample["tiles"])
    return server.secure(app, security)


@pytest.fixture(scope="module")
def open_app(sample):
    return _app(sample, server.Security(host="127.0.0.1"))


@pytest.fixture(scope="module")
def auth_app(sample, users_file):
    security = server.serve_options("127.0.0.1", users_file)
    return _app(sample, security)


# -- users and passwords -----------------------------------------------------------------------
def test_passwords_are_salted_scrypt_hashes(users_file):
    text = users_file.read_text()
    assert PASSWORD not in text
    users = server.load_users(users_file)
    assert {u.role for u in users.values()} == {"viewer", "editor"}
    assert users["vera"].password != users["ed"].password  # same password, other salt
    assert server.check_password(PASSWORD, users["vera"].password)
    assert not server.check_password(PASSWORD + "x", users["vera"].password)
    assert oct(users_file.stat().st_mode & 0o777) == "0o600"


def test_users_add_on_the_command_line(tmp_path, monkeypatch, capsys):
    import io

    from viz.cli import main

    path = tmp_path / "u.yaml"
    monkeypatch.setattr("sys.stdin", io.StringIO("long enough pw\n"))
    assert main(["users", "add", str(path), "ana", "--role", "editor", "--password-stdin"]) == 0
    assert server.load_users(path)["ana"].role == "editor"
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "add", str(path), "bob", "--password-stdin"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err


@pytest.mark.parametrize("text, field", [
    ("users: {}\n", "users"),
    ("users: {al: {role: admin, password: 'scrypt$1'}}\n", "users.al.role"),
    ("users: {al: {role: viewer, password: plain}}\n", "users.al.password"),
    ("users: {'a b': {role: viewer, password: 'scrypt$1'}}\n", "users.a b"),
])
def test_a_bad_users_file_is_refused_naming_the_key(tmp_path, text, field):
    path = tmp_path / "users.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        server.load_users(path)
    assert info.value.field == field and str(path) in str(info.value)


def test_binding_beyond_loopback_without_login_warns():
    assert server.warn_if_exposed("0.0.0.0", None) is not None
    assert server.warn_if_exposed("192.168.1.10", None) is not None
    assert server.warn_if_exposed("127.0.0.1", None) is None
    assert server.warn_if_exposed("0.0.0.0", {"a": server.User("a", "viewer", "")}) is None


# -- headers, hosts, body, files -----------------------------------------------------------------
def test_security_headers_and_a_csp_that_lets_cesium_run(open_app):
    response = open_app.server.test_client().get("/")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    for part in ("default-src 'self'", "worker-src 'self' blob:", "'unsafe-eval'",
                 "object-src 'none'", "frame-ancestors 'none'", "img-src 'self' data: blob:"):
        assert part in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # every inline script of the page is allowed by its hash
    import base64
    import hashlib
    import re

    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>",
                        response.get_data(as_text=True), flags=re.S)
    assert len(inline) >= 2  # Cesium's base URL and Dash's renderer
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp


def test_no_version_banner_on_waitress(open_app):
    with server.running(open_app) as url:
        with urllib.request.urlopen(url + "/", timeout=30) as response:
            assert response.status == 200
            assert "Server" not in response.headers
            assert "Werkzeug" not in str(response.headers)


@pytest.mark.parametrize("host, status", [("127.0.0.1:8050", 200), ("localhost", 200),
                                          ("evil.example", 400), ("127.0.0.1.nip.io", 400)])
def test_only_allowed_hosts_are_answered(open_app, host, status):
    response = open_app.server.test_client().get("/", headers={"Host": host})
    assert response.status_code == status


def test_a_request_body_over_the_limit_is_refused(open_app):
    client = open_app.server.test_client()
    body = b'{"output": "' + b"x" * (server.MAX_BODY_BYTES + 10) + b'"}'
    response = client.post("/_dash-update-component", data=body,
                           content_type="application/json")
    assert response.status_code == 413


def test_file_routes_serve_only_regular_files_inside_their_root(open_app, sample, tmp_path):
    client = open_app.server.test_client()
    assert client.get("/tiles/tileset.json").status_code == 200
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    link = sample["tiles"] / "leak.json"
    os.symlink(secret, link)
    os.symlink("/etc", sample["tiles"] / "etc")
    try:
        for path in ("/tiles/leak.json", "/tiles/etc/passwd", "/tiles/../run/manifest.json",
                     "/tiles/%2e%2e/run/manifest.json", "/tiles/buildings",
                     "/tiles//etc/passwd", "/cesium/../../package.json"):
            response = client.get(path)
            # 404, a redirect, or Dash's page for a path that is no file route
            assert response.status_code in (404, 308) or (
                response.status_code == 200 and response.mimetype == "text/html"), path
            assert b"top secret" not in response.data and b"root:" not in response.data
    finally:
        link.unlink()
        (sample["tiles"] / "etc").unlink()


# -- login, roles, audit -------------------------------------------------------------------------
def _login(client, user, password=PASSWORD):
    return client.post("/login", data={"user": user, "password": password})


def test_login_roles_and_the_audit_log(auth_app):
    security = auth_app._twin_security
    client = auth_app.server.test_client()
    assert client.get("/").status_code == 302  # to the login form
    assert client.get("/tiles/tileset.json").status_code == 401
    assert client.post("/_dash-update-component", json={}).status_code == 401
    assert _login(client, "vera", "wrong password").status_code == 401
    assert _login(client, "nobody").status_code == 401
    assert _login(client, "vera").status_code == 302
    assert client.get("/").status_code == 200
    assert client.get("/tiles/tileset.json").status_code == 200
    assert client.get("/twin/whoami").get_json() == {"user": "vera", "role": "viewer",
                                                      "clearance": "internal"}
    assert client.get("/twin/audit").status_code == 403  # editors only
    client.get("/logout")
    assert client.get("/").status_code == 302

    editor = auth_app.server.test_client()
    assert _login(editor, "ed").status_code == 302
    audit = editor.get("/twin/audit")
    assert audit.status_code == 200
    events = [json.loads(line) for line in audit.get_data(as_text=True).splitlines()]
    kinds = [(e["event"], e.get("user") or e.get("name")) for e in events]
    for expected in [("login-failed", "vera"), ("login-failed", "nobody"), ("login", "vera"),
                     ("download", "vera"), ("forbidden", "vera"), ("logout", "vera"),
                     ("login", "ed")]:
        assert expected in kinds
    assert security.audit_log.is_file()
    assert PASSWORD not in security.audit_log.read_text()


def test_repeated_failed_logins_are_throttled(sample, users_file):
    app = _app(sample, server.serve_options("127.0.0.1", users_file))
    client = app.server.test_client()
    codes = [_login(client, "vera", f"guess {k}").status_code for k in range(7)]
    assert codes[:server.MAX_FAILURES] == [401] * server.MAX_FAILURES
    assert codes[server.MAX_FAILURES:] == [429, 429]
    assert _login(client, "vera").status_code == 429  # even the right one, for a while


# -- callbacks ---------------------------------------------------------------------------------
def _callbacks(app) -> list[dict]:
    client = app.server.test_client()
    deps = client.get("/_dash-dependencies").get_json()
    return [d for d in deps if not d.get("clientside_function") and "{" not in d["output"]]


def _outputs(dep: dict) -> list[dict]:
    text = dep["output"]
    parts = text[2:-2].split("...") if text.startswith("..") else [text]
    out = []
    for part in parts:
        ident, _, prop = part.rpartition(".")
        out.append({"id": ident, "property": prop})
    return out


def _payload(dep: dict, values: list) -> dict:
    outputs = _outputs(dep)
    inputs = [{"id": i["id"], "property": i["property"], "value": values[k % len(values)]}
              for k, i in enumerate(dep["inputs"])]
    state = [{"id": s["id"], "property": s["property"], "value": values[-1]}
             for s in dep.get("state", [])]
    return {"output": dep["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": inputs, "state": state,
            "changedPropIds": [f"{i['id']}.{i['property']}" for i in dep["inputs"][:1]]}


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=20),
                    lambda kids: st.lists(kids, max_size=3)
                    | st.dictionaries(st.text(max_size=5), kids, max_size=3), max_leaves=6)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzzed_callbacks_never_answer_500(open_app, data):
    deps = _callbacks(open_app)
    dep = data.draw(st.sampled_from(deps))
    values = data.draw(st.lists(JSON, min_size=1, max_size=4))
    client = open_app.server.test_client()
    response = client.post("/_dash-update-component", json=_payload(dep, values))
    assert response.status_code in (200, 204, 400), (dep["output"], response.status_code)
    assert b"Traceback" not in response.data


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"output": 3}', b'{"inputs": "x"}',
                                  b"\xff\xfe", b'{"output": "a.b", "inputs": [{}]}'])
def test_malformed_callback_requests_answer_400(open_app, body):
    response = open_app.server.test_client().post(
        "/_dash-update-component", data=body, content_type="application/json")
    assert response.status_code == 400
    assert b"Traceback" not in response.data


def layout_values(layout) -> dict[tuple[str, str], object]:
    """Every (component id, property) of a Dash layout (``/_dash-layout``'s JSON)."""
    found: dict[tuple[str, str], object] = {}

    def walk(node):
        if isinstance(node, dict):
            props = node.get("props", {})
            if isinstance(props, dict) and isinstance(props.get("id"), str):
                for key, value in props.items():
                    found[(props["id"], key)] = value
            for value in (props.values() if isinstance(props, dict) else []):
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(layout)
    return found


def test_fifty_concurrent_sessions_of_thirty_callbacks(open_app, capsys):
    """50 sessions x 30 callbacks (the layout's own values) on waitress over loopback: no
    error; the latencies go to the test's output and to $TWIN_ARTIFACTS if set."""
    values = layout_values(open_app.server.test_client().get("/_dash-layout").get_json())
    requests = []
    for dep in _callbacks(open_app):
        ins = [values.get((i["id"], i["property"])) for i in dep["inputs"]]
        state = [values.get((s["id"], s["property"])) for s in dep.get("state", [])]
        payload = _payload(dep, [None])
        for item, value in zip(payload["inputs"], ins):
            item["value"] = value
        for item, value in zip(payload["state"], state):
            item["value"] = value
        requests.append(json.dumps(payload).encode())
    assert requests
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    with server.running(open_app, threads=8) as url:
        def session(k: int) -> None:
            for n in range(30):
                body = requests[(k + n) % len(requests)]
                request = urllib.request.Request(url + "/_dash-update-component", data=body,
                                                 headers={"Content-Type": "application/json"})
                started = time.perf_counter()
                try:
                    with urllib.request.urlopen(request, timeout=120) as response:
                        response.read()
                        ok = response.status in (200, 204)
                except urllib.error.HTTPError as exc:
                    ok = exc.code in (204,)
                    if not ok:
                        with lock:
                            errors.append(f"{exc.code}")
                except OSError as exc:
                    ok = False
                    with lock:
                        errors.append(repr(exc))
                with lock:
                    latencies.append(time.perf_counter() - started)
                    if not ok and not errors:
                        errors.append("status")

        threads = [threading.Thread(target=session, args=(k,)) for k in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(latencies) == 50 * 30
    q = statistics.quantiles(latencies, n=100)
    report = {"requests": len(latencies), "p50_s": round(q[49], 4), "p95_s": round(q[94], 4),
              "callbacks": len(requests)}
    print("concurrent sessions:", report)
    if os.environ.get("TWIN_ARTIFACTS"):
        Path(os.environ["TWIN_ARTIFACTS"]).mkdir(parents=True, exist_ok=True)
        (Path(os.environ["TWIN_ARTIFACTS"]) / "security_load.json").write_text(
            json.dumps(report))
