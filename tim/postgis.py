"""A TIM's vector layers and metadata in PostgreSQL/PostGIS (``twin tim build --store URL``).

The store is named by a URL ``postgresql://[user@]host[:port]/database?schema=NAME``: each
vector layer becomes the table ``NAME.<layer>`` (a ``fid`` key, one column per attribute, a
``geom`` geometry column with the layer's EPSG code, or SRID 0 and the CRS in the manifest when
it has none), and the manifest is kept in ``NAME.twin_manifest`` beside them, so a database
user sees what the tables are. Rasters, point clouds and meshes stay in the TIM folder.

Passwords never enter the URL that the manifest records: give them as libpq does
(``PGPASSWORD``, ``~/.pgpass``). Layers are written in one transaction, committed only once
the TIM folder is in place, and read back exactly: the manifest's content hashes are checked
on loading as for the GeoPackage store.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit, urlunsplit

import numpy as np

from tim.errors import InputError, StoreError

#: pandas dtype kinds → PostgreSQL column types (others are stored as text).
PG_TYPES = {"i": "bigint", "u": "bigint", "f": "double precision", "b": "boolean"}
MANIFEST_TABLE = "twin_manifest"
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def is_postgis_url(text: str | None) -> bool:
    return bool(text) and str(text).startswith(("postgresql://", "postgres://"))


@dataclass(frozen=True)
class PostGISStore:
    """Where the layers go: a connection string (without password) and a schema."""

    url: str
    schema: str

    @classmethod
    def from_url(cls, url: str) -> PostGISStore:
        """Parse and check ``url``; the schema defaults to ``public``.

        >>> PostGISStore.from_url("postgresql://twin@127.0.0.1:5433/gis?schema=haiwan")
        PostGISStore(url='postgresql://twin@127.0.0.1:5433/gis', schema='haiwan')
        """
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
            raise InputError("a PostGIS store is postgresql://[user@]host[:port]/database"
                             "[?schema=NAME]", field="--store", value=url)
        if parts.password:
            raise InputError("do not put the password in the URL (it would be recorded in the "
                             "manifest); set PGPASSWORD or use ~/.pgpass", field="--store")
        schema = parse_qs(parts.query).get("schema", ["public"])[0]
        _check_name(schema, "schema")
        return cls(urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), schema)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A connection in one transaction, committed when the block ends without error."""
        try:
            import psycopg
        except ImportError:
            raise InputError("the PostGIS store needs psycopg: pip install "
                             "'territory-twin[postgis]'", field="--store") from None
        try:
            connection = psycopg.connect(self.url, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(f"{self.url}: cannot connect to PostgreSQL: "
                             f"{str(exc).strip()[:200]}") from None
        try:
            with connection.transaction():
                yield connection
        finally:
            connection.close()

    def table(self, name: str) -> str:
        _check_name(name, "layer")
        return f'"{self.schema}"."{name}"'

    def prepare(self, connection: Any) -> None:
        connection.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')

    def write_layer(self, connection: Any, name: str, frame: Any) -> dict[str, Any]:
        """Replace the table of layer ``name`` by ``frame``; its manifest entry."""
        import shapely

        epsg = frame.crs.to_epsg() if frame.crs is not None else None
        srid = int(epsg or 0)
        columns = [c for c in frame.columns if c != frame.geometry.name]
        for column in columns:
            _check_name(str(column), f"column of layer {name}")
        table = self.table(name)
        definitions = ", ".join(f'"{c}" {PG_TYPES.get(frame[c].dtype.kind, "text")}'
                                for c in columns)
        connection.execute(f"DROP TABLE IF EXISTS {table}")
        connection.execute(f"CREATE TABLE {table} (fid bigint PRIMARY KEY"
                           + (f", {definitions}" if definitions else "")
                           + f", geom geometry(Geometry, {srid}))")
        names = ", ".join(["fid", *(f'"{c}"' for c in columns), "geom"])
        wkb = shapely.to_wkb(frame.geometry.values)
        with connection.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for fid, row in enumerate(zip(*(frame[c].tolist() for c in columns), wkb)):
                *values, geometry = row
                copy.write_row([fid, *(_cell(v) for v in values),
                                None if geometry is None else f"SRID={srid};{geometry.hex()}"])
        connection.execute(f"CREATE INDEX ON {table} USING gist (geom)")
        return {"store": self.url, "schema": self.schema, "table": name, "srid": srid,
                "dtypes": {str(c): str(frame[c].dtype) for c in columns}}

    def write_manifest(self, connection: Any, manifest: dict[str, Any]) -> None:
        table = self.table(MANIFEST_TABLE)
        connection.execute(f"CREATE TABLE IF NOT EXISTS {table} (name text PRIMARY KEY, "
                           "manifest jsonb NOT NULL, written timestamptz DEFAULT now())")
        connection.execute(f"INSERT INTO {table} (name, manifest) VALUES (%s, %s) "
                           "ON CONFLICT (name) DO UPDATE SET manifest = EXCLUDED.manifest, "
                           "written = now()",
                           (manifest["name"], json.dumps(manifest, ensure_ascii=False)))

    def read_layer(self, connection: Any, meta: dict[str, Any], crs: str) -> Any:
        """Layer ``meta["table"]`` as the GeoDataFrame that was written (columns, dtypes,
        order)."""
        import geopandas as gpd
        import pandas as pd
        import shapely

        dtypes = meta.get("dtypes", {})
        names = ", ".join([*(f'"{c}"' for c in dtypes), "ST_AsBinary(geom)"])
        rows = connection.execute(
            f"SELECT {names} FROM {self.table(meta['table'])} ORDER BY fid").fetchall()
        columns = list(zip(*rows)) if rows else [[] for _ in range(len(dtypes) + 1)]
        frame = pd.DataFrame({c: _restore(list(values), dtype)
                              for (c, dtype), values in zip(dtypes.items(), columns)})
        geometry = shapely.from_wkb([None if g is None else bytes(g) for g in columns[-1]])
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry), crs=crs)


def _check_name(name: str, what: str) -> None:
    if not _NAME.fullmatch(name):
        raise InputError(f"a PostGIS {what} name must be lower-case letters, digits and _ "
                         "(at most 63, not starting with a digit)", field=what, value=name)


def _cell(value: Any) -> Any:
    """A Python value COPY can write (NaN as NULL, numpy scalars as Python ones)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _restore(values: list[Any], dtype: str) -> Any:
    """A column as it was written: numbers in their numpy type (NULL as NaN for floats),
    text in its pandas type (NULL as missing)."""
    import pandas as pd

    try:
        kind = np.dtype(dtype).kind
    except TypeError:  # a pandas extension type such as "str" or "string"
        kind = "O"
    if kind == "f":
        return np.array([np.nan if v is None else v for v in values], dtype=dtype)
    if kind in "iub":
        return np.array(values, dtype=dtype)
    return pd.Series(values, dtype=dtype)
