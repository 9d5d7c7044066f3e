"""The dashboard's web server, hardened for a bureau's network: waitress, headers, hosts, login.

``twin serve`` runs the Dash app on waitress (no Werkzeug development server, no version
banner) behind these guards, all installed by :func:`secure`:

* **Host allow-list** (Flask's ``TRUSTED_HOSTS``): only the bound host, ``localhost``,
  ``127.0.0.1``, ``::1`` and the names given with ``--allowed-host``; any other ``Host`` header
  gets 400, which defeats DNS rebinding (a foreign page that renames itself to 127.0.0.1).
* **Security headers**: a Content-Security-Policy that lets CesiumJS run (its workers start
  from ``blob:`` URLs, its widgets and WebAssembly need ``'unsafe-eval'``) but nothing from
  other origins, ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: no-referrer``, and no ``Server`` header.
* **Request body limit** (:data:`MAX_BODY_BYTES`, 413 above it).
* **Login** (optional, ``--auth users.yaml``): users with salted scrypt password hashes
  (written by ``twin users add``) and a role, ``viewer`` (may read everything the dashboard
  shows) or ``editor`` (also the editor-only routes: today the audit log). Sessions are signed
  cookies (HttpOnly, SameSite=Strict) keyed by a secret drawn at start-up, so a restart logs
  everyone out; repeated failures from one address are slowed down (429).
* **Clearance**: each user has a clearance (``public``, ``internal`` or ``restricted``, the
  security levels of :data:`tim.store.LEVELS`; ``internal`` when the users file does not say),
  and ``twin serve`` without ``--auth`` serves at ``--clearance`` (``restricted`` by default:
  the local user sees everything). A TIM layer whose manifest level is above the clearance of
  the request's user is neither drawn nor served (:func:`visible`, :func:`current_clearance`).
* **Audit log** (JSON lines): logins, failed logins, logouts and every file downloaded from the
  tiles and image routes, with the user, the address and the status.
* **Errors**: any exception in a route or a Dash callback answers a short message (400 for a
  request the app cannot use), never a traceback or HTTP 500; the traceback goes to the log.
* **Files**: :func:`send_inside` serves a file only if, links resolved, it is a regular file
  inside its root (a symbolic link planted in the tiles folder cannot serve ``/etc/passwd``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from tim.errors import InputError

log = logging.getLogger(__name__)

ROLES = ("viewer", "editor")
#: Clearances, lowest first: the security levels of a TIM's manifest (:data:`tim.store.LEVELS`).
CLEARANCES = ("public", "internal", "restricted")
#: Clearance of a user the users file gives none (files written before clearances existed).
DEFAULT_CLEARANCE = "internal"
#: Largest request body (bytes): a Dash callback's inputs are a few kB.
MAX_BODY_BYTES = 4 * 1024 * 1024
#: scrypt cost (RFC 7914: N = 2**14, r = 8, p = 1 takes ~50 ms and 16 MB per check).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
#: Failed logins from one address within :data:`FAIL_WINDOW_S` before it is refused (429).
MAX_FAILURES, FAIL_WINDOW_S = 5, 60.0
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
#: Routes anyone may reach without a session (the login form and what it needs).
PUBLIC_PATHS = ("/login", "/logout")
#: Routes only editors may reach.
EDITOR_PATHS = ("/twin/audit",)
#: File routes whose responses are downloads (audited).
DOWNLOAD_PREFIXES = ("/tiles/", "/twin/")
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


# -- users -------------------------------------------------------------------------------------
def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A salted scrypt hash, ``scrypt$N$r$p$salt$hash`` (base64), for a users file.

    Examples
    --------
    >>> h = hash_password("correct horse", salt=b"0123456789abcdef")
    >>> h.split("$")[:4], check_password("correct horse", h), check_password("wrong", h)
    (['scrypt', '16384', '8', '1'], True, False)
    """
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=32)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a :func:`hash_password` hash (constant-time compare)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        n_, r_, p_ = int(n), int(r), int(p)
        if kind != "scrypt" or not (2 <= n_ <= 2**20 and 1 <= r_ <= 32 and 1 <= p_ <= 16):
            return False
        expected = base64.b64decode(digest, validate=True)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt, validate=True),
                             n=n_, r=r_, p=p_, dklen=len(expected), maxmem=2**27)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def visible(level: Any, clearance: Any) -> bool:
    """Whether data classified ``level`` may be shown to a user cleared to ``clearance``.

    The one rule of the dashboard: a level at or below the clearance. An unknown level counts
    as ``restricted`` and an unknown clearance as ``public`` (refuse when in doubt).

    Examples
    --------
    >>> visible("public", "internal"), visible("restricted", "internal")
    (True, False)
    >>> visible("secret", "restricted"), visible("public", None), visible("internal", None)
    (True, True, False)
    """
    rank = CLEARANCES.index(level) if level in CLEARANCES else len(CLEARANCES) - 1
    cleared = CLEARANCES.index(clearance) if clearance in CLEARANCES else 0
    return rank <= cleared


def current_clearance() -> str:
    """The clearance of the user of the current request (set by :func:`secure`'s gate);
    ``restricted`` outside a request (the command line and reports are the local user's)
    and in an app :func:`secure` did not guard."""
    import flask

    if not flask.has_request_context():
        return "restricted"
    return str(flask.g.get("twin_clearance", "restricted"))


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password: str  # the hash
    clearance: str = DEFAULT_CLEARANCE


def load_users(path: str | Path) -> dict[str, User]:
    """The users of a users file (``users: {NAME: {role: viewer|editor, password: HASH,
    clearance: public|internal|restricted}}``; ``clearance`` may be missing: internal).

    Raises
    ------
    InputError
        Not found, not a mapping, a bad name, role or hash (named), or no user at all.
    """
    from tim.config import read_yaml

    raw = read_yaml(path, "users file", not_a_mapping="a users file is a mapping with 'users'")
    entries = raw.get("users")
    if not isinstance(entries, dict) or not entries:
        raise InputError("no users: add one with 'twin users add FILE NAME'", source=path,
                         field="users")
    users = {}
    for name, entry in entries.items():
        key = f"users.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise InputError("a user name is 1-64 letters, digits or _.@-", source=path,
                             field=key)
        if not isinstance(entry, dict) or not {"role", "password"} <= set(entry) \
                or not set(entry) <= {"role", "password", "clearance"}:
            raise InputError("a user has 'role', 'password' and optionally 'clearance'",
                             source=path, field=key)
        clearance = entry.get("clearance", DEFAULT_CLEARANCE)
        if clearance not in CLEARANCES:
            raise InputError(f"clearance must be one of {', '.join(CLEARANCES)}",
                             source=path, field=f"{key}.clearance", value=clearance)
        if entry["role"] not in ROLES:
            raise InputError(f"role must be one of {', '.join(ROLES)}", source=path,
                             field=f"{key}.role", value=entry["role"])
        if not isinstance(entry["password"], str) or \
                not entry["password"].startswith("scrypt$"):
            raise InputError("password must be a hash written by 'twin users add'",
                             source=path, field=f"{key}.password")
        users[name] = User(name, entry["role"], entry["password"], clearance)
    return users


def add_user(path: str | Path, name: str, password: str, role: str = "viewer",
             clearance: str = DEFAULT_CLEARANCE) -> None:
    """Add or replace a user in a users file (created if missing; written atomically, mode
    0600 since it holds password hashes)."""
    import yaml

    from tim.atomic import atomic_file

    if not _NAME.match(name):
        raise InputError("a user name is 1-64 letters, digits or _.@-", field="NAME",
                         value=name)
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}", field="--role", value=role)
    if clearance not in CLEARANCES:
        raise InputError(f"clearance must be one of {', '.join(CLEARANCES)}",
                         field="--clearance", value=clearance)
    if len(password) < 8:
        raise InputError("the password must have at least 8 characters", field="password")
    path = Path(path)
    current: dict[str, Any] = {"users": {}}
    if path.exists():
        load_users(path)  # refuse to extend a broken file
        from tim.config import read_yaml

        current = read_yaml(path, "users file")
    current["users"][name] = {"role": role, "password": hash_password(password),
                              "clearance": clearance}
    with atomic_file(path) as staging:
        staging.touch(mode=0o600)
        staging.write_text(yaml.safe_dump(current, sort_keys=True))


# -- serving files -----------------------------------------------------------------------------
def resolve_inside(root: str | Path, filename: str) -> Path | None:
    """The regular file ``filename`` names under ``root`` with every link resolved, or None if
    it is missing, not a regular file, or (links followed) outside ``root``.

    Examples
    --------
    >>> import tempfile, pathlib, os
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "a.json").write_text("{}")
    >>> os.symlink("/etc/passwd", root / "p.json")
    >>> resolve_inside(root, "a.json") == (root / "a.json").resolve()
    True
    >>> resolve_inside(root, "p.json"), resolve_inside(root, "../x"), resolve_inside(root, ".")
    (None, None, None)
    """
    if not filename or "\x00" in filename or filename.startswith(("/", "\\")):
        return None
    try:
        base = Path(root).resolve(strict=True)
        target = (base / filename).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


def send_inside(root: str | Path, filename: str, *, max_age: int = 0,
                mimetype: str | None = None) -> Any:
    """A Flask response with the file :func:`resolve_inside` finds, else 404."""
    import flask

    target = resolve_inside(root, filename)
    if target is None:
        flask.abort(404)
    return flask.send_file(target, max_age=max_age, mimetype=mimetype, conditional=True)


# -- the guards ----------------------------------------------------------------------------------
@dataclass
class Security:
    """What :func:`secure` installs; see the module."""

    host: str = "127.0.0.1"
    users: Mapping[str, User] | None = None
    allowed_hosts: tuple[str, ...] = ()
    audit_log: Path | None = None
    #: Clearance of every request when there is no login (``twin serve --clearance``).
    clearance: str = "restricted"
    max_body: int = MAX_BODY_BYTES
    _failures: dict[str, list[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def trusted_hosts(self) -> list[str]:
        hosts = [*LOCAL_HOSTS, *self.allowed_hosts]
        if not _wildcard(self.host):
            hosts.append(self.host)
        else:  # listening everywhere: this machine's own names are expected too
            with contextlib.suppress(OSError):
                name = socket.gethostname()
                hosts += [name, socket.getfqdn(), *socket.gethostbyname_ex(name)[2]]
        return sorted(set(hosts))

    def audit(self, event: str, **detail: Any) -> None:
        import flask

        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "event": event,
                  "user": flask.session.get("user") if flask.has_request_context() else None,
                  "address": flask.request.remote_addr if flask.has_request_context()
                  else None, **detail}
        line = json.dumps(record, ensure_ascii=False)
        log.info("audit %s", line)
        if self.audit_log is not None:
            with self._lock, open(self.audit_log, "a", encoding="utf-8") as out:
                out.write(line + "\n")

    def too_many_failures(self, address: str) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(address, []) if now - t < FAIL_WINDOW_S]
            self._failures[address] = recent
            return len(recent) >= MAX_FAILURES

    def failed(self, address: str) -> None:
        with self._lock:
            self._failures.setdefault(address, []).append(time.monotonic())


def _wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` listens on this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def content_security_policy(app: Any) -> str:
    """The CSP of the page: the recipe measured with CesiumJS 1.145 in Chromium (zero
    violations), with the hashes of Dash's inline scripts and of the page's own."""
    hashes = list(app.csp_hashes())
    for script in re.findall(r"<script>(.*?)</script>", app.index_string, flags=re.S):
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        hashes.append(f"'sha256-{digest}'")
    scripts = " ".join(["'self'", "'unsafe-eval'", "blob:", *sorted(set(hashes))])
    return "; ".join([
        "default-src 'self'", f"script-src {scripts}", "worker-src 'self' blob:",
        "style-src 'self' 'unsafe-inline'", "img-src 'self' data: blob:",
        "connect-src 'self' data: blob:", "font-src 'self' data:", "object-src 'none'",
        "frame-ancestors 'none'", "base-uri 'self'", "form-action 'self'"])


LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Territory Twin - login
</title></head><body style="font-family:sans-serif;max-width:22em;margin:4em auto">
<h2>Territory Twin</h2><form method="post" action="/login">
<p><label>User<br><input name="user" autocomplete="username" required></label></p>
<p><label>Password<br><input name="password" type="password" autocomplete="current-password"
required></label></p><p><button type="submit">Log in</button></p><p>{message}</p>
</form></body></html>"""


def secure(app: Any, security: Security) -> Any:
    """Install the guards of the module on a Dash ``app`` (call after its callbacks exist)."""
    import flask
    import werkzeug.exceptions

    server: flask.Flask = app.server
    server.config.update(TRUSTED_HOSTS=security.trusted_hosts(),
                         MAX_CONTENT_LENGTH=security.max_body,
                         MAX_FORM_MEMORY_SIZE=min(security.max_body, 500_000),
                         SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                         SECRET_KEY=secrets.token_bytes(32))
    csp = content_security_policy(app)
    headers = {"Content-Security-Policy": csp, "X-Frame-Options": "DENY",
               "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
               "Cross-Origin-Opener-Policy": "same-origin"}

    @server.before_request
    def _gate() -> Any:
        request = flask.request
        request.host  # noqa: B018 - raises SecurityError (400) for an untrusted Host
        if security.users is None:
            flask.g.twin_clearance = security.clearance
            return None
        flask.g.twin_clearance = "public"  # until a logged-in user is known
        if request.path in PUBLIC_PATHS:
            return None
        user = security.users.get(flask.session.get("user", ""))
        if user is None:
            if request.method == "GET" and not request.path.startswith(("/_dash", "/tiles",
                                                                        "/twin", "/cesium")):
                return flask.redirect("/login")
            return flask.Response("log in first\n", status=401, mimetype="text/plain")
        if request.path.startswith(EDITOR_PATHS) and user.role != "editor":
            security.audit("forbidden", path=request.path)
            return flask.Response("editors only\n", status=403, mimetype="text/plain")
        flask.g.twin_clearance = user.clearance
        return None

    @server.after_request
    def _headers(response: flask.Response) -> flask.Response:
        response.headers.update(headers)
        response.headers.pop("Server", None)
        path = flask.request.path
        if path.startswith(DOWNLOAD_PREFIXES) and flask.request.method == "GET" \
                and path not in (*EDITOR_PATHS, "/twin/whoami"):
            security.audit("download", path=path, status=response.status_code)
        return response

    @server.route("/login", methods=["GET", "POST"], endpoint="twin_login")
    def _login() -> Any:
        from markupsafe import escape

        if security.users is None:
            return flask.redirect("/")
        if flask.request.method == "GET":
            return LOGIN_PAGE.format(message="")
        address = flask.request.remote_addr or "?"
        if security.too_many_failures(address):
            security.audit("login-throttled")
            return flask.Response("too many failed logins; wait a minute\n", status=429,
                                  mimetype="text/plain")
        name = flask.request.form.get("user", "")[:64]
        user = security.users.get(name)
        # Check a hash even for an unknown user, so the answer time does not tell who exists.
        ok = check_password(flask.request.form.get("password", "")[:1024],
                            user.password if user else _DUMMY_HASH) and user is not None
        if not ok:
            security.failed(address)
            security.audit("login-failed", name=name)
            return flask.Response(LOGIN_PAGE.format(message=escape("Wrong user or password.")),
                                  status=401, mimetype="text/html")
        flask.session.clear()
        flask.session["user"] = name
        security.audit("login", role=user.role)
        return flask.redirect("/")

    @server.route("/logout", endpoint="twin_logout")
    def _logout() -> Any:
        if flask.session.get("user"):
            security.audit("logout")
        flask.session.clear()
        return flask.redirect("/login" if security.users is not None else "/")

    @server.route("/twin/whoami", endpoint="twin_whoami")
    def _whoami() -> Any:
        user = (security.users or {}).get(flask.session.get("user", ""))
        return flask.jsonify({"user": user.name if user else None,
                              "role": user.role if user else
                              ("editor" if security.users is None else None),
                              "clearance": current_clearance()})

    @server.route("/twin/audit", endpoint="twin_audit")
    def _audit() -> Any:
        if security.audit_log is None or not security.audit_log.is_file():
            return flask.Response("", mimetype="text/plain")
        lines = security.audit_log.read_text(encoding="utf-8").splitlines()[-1000:]
        return flask.Response("\n".join(lines) + "\n", mimetype="text/plain")

    @server.errorhandler(Exception)
    def _error(exc: Exception) -> Any:
        if isinstance(exc, werkzeug.exceptions.HTTPException):
            if exc.code is not None and exc.code < 500:
                return flask.Response(f"{exc.code} {exc.name}\n", status=exc.code,
                                      mimetype="text/plain")
        log.error("request %s %s failed", flask.request.method, flask.request.path,
                  exc_info=exc)
        # A callback that cannot use its input (a fuzzed or stale request) is the request's
        # fault as far as the page can tell; the traceback stays in the server's log.
        return flask.Response(json.dumps({"error": "this request could not be answered "
                                          f"({type(exc).__name__}); see the server log"}),
                              status=400, mimetype="application/json")

    app._twin_security = security
    return app


_DUMMY_HASH = hash_password("not a password", salt=b"twin-dummy-salt!")


def warn_if_exposed(host: str, users: Mapping[str, User] | None) -> str | None:
    """The warning to print when binding a non-loopback address without a login."""
    if users is None and not is_loopback(host):
        return (f"warning: the dashboard listens on {host} without --auth: anyone who can "
                "reach this machine can read every run; start it with --auth users.yaml "
                "(see 'twin users add')")
    return None


def run(app: Any, *, host: str, port: int, threads: int = 8,
        security: Security | None = None) -> None:
    """Serve the (secured) app with waitress until interrupted."""
    import waitress

    security = security or getattr(app, "_twin_security", None) or Security(host=host)
    waitress.serve(app.server, host=host, port=port, threads=threads, ident="",
                   max_request_body_size=security.max_body, clear_untrusted_proxy_headers=True)


@contextlib.contextmanager
def running(app: Any, host: str = "127.0.0.1", port: int = 0, threads: int = 8
            ) -> Iterator[str]:
    """Serve ``app`` in a background thread (tests, benchmarks); yields the base URL."""
    import waitress

    security = getattr(app, "_twin_security", None) or Security(host=host)
    srv = waitress.create_server(app.server, host=host, port=port, threads=threads, ident="",
                                 max_request_body_size=security.max_body)
    closing = threading.Event()

    def loop() -> None:
        try:
            srv.run()
        except OSError:  # the socket closed under select() when stopping
            if not closing.is_set():
                raise

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{srv.effective_port}"
    finally:
        closing.set()
        srv.close()
        thread.join(timeout=5)


def serve_options(host: str, auth: str | Path | None, allowed_hosts: Iterable[str] = (),
                  audit_log: str | Path | None = None, clearance: str = "restricted"
                  ) -> Security:
    """The :class:`Security` of ``twin serve``'s options (users read and checked first;
    ``clearance`` is that of every request without ``--auth``)."""
    if clearance not in CLEARANCES:
        raise InputError(f"clearance must be one of {', '.join(CLEARANCES)}",
                         field="--clearance", value=clearance)
    users = load_users(auth) if auth else None
    if audit_log is None and auth:
        audit_log = Path(auth).with_name("audit.log")
    return Security(host=host, users=users, allowed_hosts=tuple(allowed_hosts),
                    audit_log=Path(audit_log) if audit_log else None, clearance=clearance)
