"""Readers and writers for standard VRP benchmark instances.

Turns Solomon VRPTW text files and VRPLIB ``.vrp`` files (CVRP and VRPTW) into
``RoutingProblem`` objects, and reads best-known figures from the Solomon ``bks.csv``.
Distances are Euclidean in double precision (Solomon convention of ``../shared/data``),
travel time equals distance, every customer is mandatory, and every vehicle costs one unit
per unit of distance, so a plan's ``cost_eur`` is its total distance.
A malformed file raises ``ProblemError`` naming the file, the line and the field.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optimizer.errors import ProblemError
from optimizer.problems import RoutingProblem, Vehicle

SOLOMON_COLUMNS = ("CUST NO.", "XCOORD.", "YCOORD.", "DEMAND", "READY TIME", "DUE DATE", "SERVICE")


@dataclass(frozen=True)
class Instance:
    """A benchmark instance: the routing problem plus what output needs to name things.

    Location 0 of ``problem`` is the depot; stop ``i`` is the customer ``customer_ids[i]``
    in the file's own numbering.
    """

    name: str
    problem: RoutingProblem
    coords: np.ndarray  # (n_locations, 2) x, y
    customer_ids: tuple[int, ...]
    depot_id: int
    max_vehicles: int  # the fleet size the file allows


@dataclass(frozen=True)
class BestKnown:
    """One row of ``bks.csv`` (see ``../shared/data/solomon/README.md`` for the conventions)."""

    instance: str
    instance_class: str
    hier_vehicles: int
    hier_distance: float  # fewest vehicles first, then distance; double precision
    dist_vehicles: int
    dist_distance: float  # distance only, arcs truncated to one decimal


def euclidean_matrix(coords: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances in double precision."""
    diff = coords[:, None, :] - coords[None, :, :]
    return np.sqrt((diff**2).sum(axis=2))


def _build(
    name: str,
    coords: np.ndarray,
    demand: np.ndarray,
    ready: np.ndarray,
    due: np.ndarray,
    service: np.ndarray,
    ids: list[int],
    depot: int,
    n_vehicles: int,
    capacity: float,
    distance: np.ndarray | None = None,
) -> Instance:
    """An instance from per-node arrays in which node ``depot`` is the depot."""
    order = [depot] + [k for k in range(len(ids)) if k != depot]
    coords = coords[order]
    dist = euclidean_matrix(coords) if distance is None else distance[np.ix_(order, order)]
    cust = order[1:]
    n = len(cust)
    vehicles = tuple(
        Vehicle(
            id=f"v{k + 1}",
            start=0,
            end=0,
            capacity=float(capacity),
            shift_start_min=float(ready[depot]),
            shift_end_min=float(due[depot]),
            cost_per_km_eur=1.0,
        )
        for k in range(n_vehicles)
    )
    problem = RoutingProblem(
        distance_km=dist,
        travel_min=dist.copy(),
        stop_location=np.arange(1, n + 1),
        demand=demand[cust].astype(float),
        service_min=service[cust].astype(float),
        tw_start_min=ready[cust].astype(float),
        tw_end_min=due[cust].astype(float),
        drop_penalty=np.full(n, np.inf),
        vehicles=vehicles,
        start_min=float(ready[depot]),
        stop_ids=tuple(str(ids[k]) for k in cust),
    )
    return Instance(
        name=name,
        problem=problem,
        coords=coords,
        customer_ids=tuple(ids[k] for k in cust),
        depot_id=ids[depot],
        max_vehicles=n_vehicles,
    )


def _number(path: Path, line_no: int, field: str, text: str, integer: bool = False) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise ProblemError(f"{path}:{line_no}: {field} must be {kind}, got {text!r}") from None
    if not math.isfinite(value):
        raise ProblemError(f"{path}:{line_no}: {field} must be finite, got {text!r}")
    return value


def read_solomon(path: Path) -> Instance:
    """Read a Solomon VRPTW text file (name, VEHICLE block, CUSTOMER table; node 0 = depot)."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ProblemError(f"cannot read {path}: {exc}") from None
    lines = [(k + 1, line.strip()) for k, line in enumerate(text.splitlines())]
    content = [(k, line) for k, line in lines if line]
    if len(content) < 6:
        raise ProblemError(f"{path}: too short for a Solomon file (name, VEHICLE, CUSTOMER)")
    name = content[0][1]
    heads = [line.upper() for _, line in content]
    if "VEHICLE" not in heads or "CUSTOMER" not in heads:
        raise ProblemError(f"{path}: missing the VEHICLE or CUSTOMER section header")
    iv = heads.index("VEHICLE")
    ic = heads.index("CUSTOMER")
    if ic < iv + 3:
        raise ProblemError(f"{path}: the VEHICLE section needs a header line and a 'K Q' line")
    k_line, vehicle_line = content[iv + 2]
    parts = vehicle_line.split()
    if len(parts) != 2:
        raise ProblemError(f"{path}:{k_line}: expected 'NUMBER CAPACITY', got {vehicle_line!r}")
    n_vehicles = int(_number(path, k_line, "vehicle NUMBER", parts[0], integer=True))
    capacity = _number(path, k_line, "vehicle CAPACITY", parts[1])
    if n_vehicles < 0 or capacity < 0:
        raise ProblemError(f"{path}:{k_line}: vehicle NUMBER and CAPACITY must be >= 0")
    rows = content[ic + 2 :]
    if ic + 1 >= len(content) or not content[ic + 1][1].upper().startswith("CUST"):
        raise ProblemError(f"{path}: the CUSTOMER section needs its column header line")
    if not rows:
        raise ProblemError(f"{path}: the CUSTOMER table is empty (the depot row is required)")
    table = np.zeros((len(rows), 7))
    ids: list[int] = []
    for r, (line_no, line) in enumerate(rows):
        parts = line.split()
        if len(parts) != 7:
            raise ProblemError(
                f"{path}:{line_no}: expected 7 columns ({', '.join(SOLOMON_COLUMNS)}), "
                f"got {len(parts)}"
            )
        for c, (field, value) in enumerate(zip(SOLOMON_COLUMNS, parts, strict=True)):
            table[r, c] = _number(path, line_no, field, value, integer=(c == 0))
        ids.append(int(table[r, 0]))
        if table[r, 3] < 0 or table[r, 6] < 0:
            raise ProblemError(f"{path}:{line_no}: DEMAND and SERVICE must be >= 0")
        if table[r, 4] > table[r, 5]:
            raise ProblemError(
                f"{path}:{line_no}: READY TIME {parts[4]} is after DUE DATE {parts[5]}"
            )
    if len(set(ids)) != len(ids):
        raise ProblemError(f"{path}: customer numbers repeat")
    return _build(
        name=name,
        coords=table[:, 1:3],
        demand=table[:, 3],
        ready=table[:, 4],
        due=table[:, 5],
        service=table[:, 6],
        ids=ids,
        depot=0,
        n_vehicles=n_vehicles,
        capacity=capacity,
    )


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def write_solomon(instance: Instance, path: Path) -> None:
    """Write an instance in Solomon's text format (depot first, then the customers)."""
    p = instance.problem
    v = p.vehicles[0] if p.vehicles else None
    capacity = v.capacity if v else 0.0
    horizon_start = v.shift_start_min if v else p.start_min
    horizon_end = v.shift_end_min if v else p.start_min
    lines = [
        instance.name,
        "",
        "VEHICLE",
        "NUMBER     CAPACITY",
        f"  {instance.max_vehicles}         {_fmt(capacity)}",
        "",
        "CUSTOMER",
        "CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME",
        "",
    ]
    x, y = instance.coords[0]
    depot = [instance.depot_id, x, y, 0, horizon_start, horizon_end, 0]
    lines.append("  ".join(_fmt(val) for val in depot))
    for i, cid in enumerate(instance.customer_ids):
        x, y = instance.coords[p.stop_location[i]]
        row = [cid, x, y, p.demand[i], p.tw_start_min[i], p.tw_end_min[i], p.service_min[i]]
        lines.append("  ".join(_fmt(val) for val in row))
    Path(path).write_text("\n".join(lines) + "\n")


def write_vrplib(instance: Instance, path: Path) -> None:
    """Write an instance as a VRPLIB ``.vrp`` file that ``read_vrplib`` reads back exactly.

    Distances go out as an EXPLICIT full matrix in double precision (whatever rounding the
    source used is kept), coordinates beside them for plotting. Travel time is taken to be
    distance, as in every VRPLIB file; time windows are written only when one is finite.
    """
    p = instance.problem
    v = p.vehicles[0] if p.vehicles else None
    n = p.n_stops + 1
    ids = [instance.depot_id, *instance.customer_ids]
    demand = [0.0, *p.demand]
    ready = [v.shift_start_min if v else p.start_min, *p.tw_start_min]
    due = [v.shift_end_min if v else math.inf, *p.tw_end_min]
    service = [0.0, *p.service_min]
    loc = [0, *(int(x) for x in p.stop_location)]
    dist = p.distance_km[np.ix_(loc, loc)]
    lines = [
        f"NAME : {instance.name}",
        "TYPE : VRPTW" if np.isfinite(due).any() else "TYPE : CVRP",
        f"DIMENSION : {n}",
        f"VEHICLES : {instance.max_vehicles}",
        f"CAPACITY : {_fmt(v.capacity if v else 0.0)}",
        "EDGE_WEIGHT_TYPE : EXPLICIT",
        "EDGE_WEIGHT_FORMAT : FULL_MATRIX",
        "NODE_COORD_SECTION",
        *(f"{ids[k]} {_fmt(x)} {_fmt(y)}" for k, (x, y) in enumerate(instance.coords[loc])),
        "EDGE_WEIGHT_SECTION",
        *(" ".join(_fmt(d) for d in row) for row in dist),
        "DEMAND_SECTION",
        *(f"{ids[k]} {_fmt(demand[k])}" for k in range(n)),
        "SERVICE_TIME_SECTION",
        *(f"{ids[k]} {_fmt(service[k])}" for k in range(n)),
    ]
    if np.isfinite(due).any():
        if not np.isfinite(due).all():
            raise ProblemError(
                f"{instance.name}: VRPLIB cannot write a mix of open and closed time windows"
            )
        lines += ["TIME_WINDOW_SECTION"]
        lines += [f"{ids[k]} {_fmt(ready[k])} {_fmt(due[k])}" for k in range(n)]
    lines += ["DEPOT_SECTION", str(instance.depot_id), "-1", "EOF"]
    Path(path).write_text("\n".join(lines) + "\n")


_VRPLIB_SECTIONS = {
    "NODE_COORD_SECTION": 3,
    "DEMAND_SECTION": 2,
    "TIME_WINDOW_SECTION": 3,
    "SERVICE_TIME_SECTION": 2,
}


def _vrplib_distance(kind: str, coords: np.ndarray) -> np.ndarray:
    """TSPLIB distance functions on coordinates (EXACT_2D keeps double precision)."""
    exact = euclidean_matrix(coords)
    if kind == "EUC_2D":
        return np.floor(exact + 0.5)  # TSPLIB nint
    if kind == "CEIL_2D":
        return np.ceil(exact)
    if kind == "FLOOR_2D":
        return np.floor(exact)
    if kind == "EXACT_2D":
        return exact
    if kind == "ATT":
        diff = coords[:, None, :] - coords[None, :, :]
        r = np.sqrt((diff**2).sum(axis=2) / 10.0)
        t = np.floor(r + 0.5)
        return np.where(t < r, t + 1.0, t)
    raise AssertionError(kind)


def _explicit_matrix(path: Path, fmt: str, values: list[float], n: int) -> np.ndarray:
    """A full matrix from the EDGE_WEIGHT_SECTION numbers in the given TSPLIB format."""
    mat = np.zeros((n, n))
    if fmt == "FULL_MATRIX":
        cells = [(i, j) for i in range(n) for j in range(n)]
    elif fmt == "LOWER_ROW":
        cells = [(i, j) for i in range(n) for j in range(i)]
    elif fmt == "LOWER_DIAG_ROW":
        cells = [(i, j) for i in range(n) for j in range(i + 1)]
    elif fmt == "UPPER_ROW":
        cells = [(i, j) for i in range(n) for j in range(i + 1, n)]
    elif fmt == "UPPER_DIAG_ROW":
        cells = [(i, j) for i in range(n) for j in range(i, n)]
    else:
        raise ProblemError(
            f"{path}: EDGE_WEIGHT_FORMAT {fmt!r} is not supported (use FULL_MATRIX, LOWER_ROW, "
            "LOWER_DIAG_ROW, UPPER_ROW or UPPER_DIAG_ROW)"
        )
    if len(values) != len(cells):
        raise ProblemError(
            f"{path}: EDGE_WEIGHT_SECTION has {len(values)} numbers, {fmt} for DIMENSION {n} "
            f"needs {len(cells)}"
        )
    for (i, j), value in zip(cells, values, strict=True):
        mat[i, j] = value
        if fmt != "FULL_MATRIX":
            mat[j, i] = value
    return mat


def read_vrplib(path: Path) -> Instance:
    """Read a VRPLIB ``.vrp`` file: CVRP or VRPTW, coordinates or an explicit matrix.

    Distances follow the file's ``EDGE_WEIGHT_TYPE`` (EUC_2D rounds to the nearest integer,
    as TSPLIB defines it; CEIL_2D, FLOOR_2D, EXACT_2D, ATT and EXPLICIT are supported).
    Without a TIME_WINDOW_SECTION there are no windows and no shift end; without
    ``VEHICLES`` the fleet is one vehicle per customer (unlimited).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ProblemError(f"cannot read {path}: {exc}") from None
    spec: dict[str, tuple[int, str]] = {}
    sections: dict[str, list[tuple[int, list[str]]]] = {}
    current: str | None = None
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line == "EOF":
            continue
        head = line.split()[0].rstrip(":").upper()
        if head.endswith("_SECTION"):
            current = head
            sections[current] = []
            continue
        if ":" in line and not line[0].isdigit() and not line.startswith("-"):
            key, _, value = line.partition(":")
            spec[key.strip().upper()] = (line_no, value.strip())
            current = None
            continue
        if current is None:
            raise ProblemError(f"{path}:{line_no}: data line {line!r} outside any *_SECTION")
        sections[current].append((line_no, line.split()))

    def field(key: str, default: str | None = None) -> tuple[int, str]:
        if key in spec:
            return spec[key]
        if default is None:
            raise ProblemError(f"{path}: the specification field {key} is missing")
        return 0, default

    name = field("NAME", path.stem)[1]
    line_no, dim_text = field("DIMENSION")
    n = int(_number(path, line_no, "DIMENSION", dim_text, integer=True))
    if n < 1:
        raise ProblemError(f"{path}:{line_no}: DIMENSION must be >= 1")
    line_no, cap_text = field("CAPACITY")
    capacity = _number(path, line_no, "CAPACITY", cap_text)

    tables: dict[str, np.ndarray] = {}
    ids: list[int] = []
    for sec, width in _VRPLIB_SECTIONS.items():
        rows = sections.get(sec)
        if rows is None:
            continue
        if len(rows) != n:
            raise ProblemError(f"{path}: {sec} has {len(rows)} rows, DIMENSION is {n}")
        table = np.zeros((n, width - 1))
        sec_ids: list[int] = []
        for r, (row_no, parts) in enumerate(rows):
            if len(parts) != width:
                raise ProblemError(
                    f"{path}:{row_no}: {sec} rows need {width} values (id and data), "
                    f"got {len(parts)}"
                )
            sec_ids.append(int(_number(path, row_no, f"{sec} node id", parts[0], integer=True)))
            for c in range(1, width):
                table[r, c - 1] = _number(path, row_no, sec, parts[c])
        if ids and sec_ids != ids:
            raise ProblemError(f"{path}: {sec} lists the nodes in a different order")
        ids = sec_ids
        tables[sec] = table
    if "DEMAND_SECTION" not in tables:
        raise ProblemError(f"{path}: DEMAND_SECTION is missing")

    depot_rows = [parts for _, parts in sections.get("DEPOT_SECTION", [])]
    depots = [int(p[0]) for p in depot_rows if p and p[0] != "-1"]
    if len(depots) != 1:
        raise ProblemError(f"{path}: DEPOT_SECTION must list exactly one depot, got {depots}")
    if depots[0] not in ids:
        raise ProblemError(f"{path}: depot {depots[0]} is not a node id")
    depot = ids.index(depots[0])

    kind_line, kind = field("EDGE_WEIGHT_TYPE")
    kind = kind.upper()
    coords = tables.get("NODE_COORD_SECTION", np.zeros((n, 2)))
    if kind == "EXPLICIT":
        fmt = field("EDGE_WEIGHT_FORMAT")[1].upper()
        values = [
            _number(path, row_no, "EDGE_WEIGHT_SECTION", v)
            for row_no, parts in sections.get("EDGE_WEIGHT_SECTION", [])
            for v in parts
        ]
        distance = _explicit_matrix(path, fmt, values, n)
    elif kind in ("EUC_2D", "CEIL_2D", "FLOOR_2D", "EXACT_2D", "ATT"):
        if "NODE_COORD_SECTION" not in tables:
            raise ProblemError(f"{path}: EDGE_WEIGHT_TYPE {kind} needs a NODE_COORD_SECTION")
        distance = _vrplib_distance(kind, coords)
    else:
        raise ProblemError(
            f"{path}:{kind_line}: EDGE_WEIGHT_TYPE {kind!r} is not supported (use EUC_2D, "
            "CEIL_2D, FLOOR_2D, EXACT_2D, ATT or EXPLICIT)"
        )

    demand = tables["DEMAND_SECTION"][:, 0]
    if (demand < 0).any():
        raise ProblemError(f"{path}: DEMAND_SECTION has a negative demand")
    if "TIME_WINDOW_SECTION" in tables:
        ready, due = tables["TIME_WINDOW_SECTION"].T
    else:
        ready, due = np.zeros(n), np.full(n, np.inf)
    if (ready > due).any():
        bad = ids[int(np.flatnonzero(ready > due)[0])]
        raise ProblemError(f"{path}: TIME_WINDOW_SECTION node {bad} opens after it closes")
    if "SERVICE_TIME_SECTION" in tables:
        service = tables["SERVICE_TIME_SECTION"][:, 0]
    else:
        line_no, svc_text = field("SERVICE_TIME", "0")
        service = np.full(n, _number(path, line_no, "SERVICE_TIME", svc_text))
    line_no, k_text = field("VEHICLES", str(n - 1))
    n_vehicles = int(_number(path, line_no, "VEHICLES", k_text, integer=True))
    return _build(
        name=name,
        coords=coords,
        demand=demand,
        ready=ready,
        due=due,
        service=service,
        ids=ids,
        depot=depot,
        n_vehicles=n_vehicles,
        capacity=capacity,
        distance=distance,
    )


def read_instance(path: Path) -> Instance:
    """Read a VRPLIB file (``.vrp``, or any file with ``KEY : value`` lines) or a Solomon file."""
    path = Path(path)
    if path.suffix.lower() == ".vrp":
        return read_vrplib(path)
    try:
        head = path.read_text()[:2000]
    except (OSError, UnicodeDecodeError) as exc:
        raise ProblemError(f"cannot read {path}: {exc}") from None
    if "DIMENSION" in head.upper() and ":" in head:
        return read_vrplib(path)
    return read_solomon(path)


def read_bks(path: Path) -> dict[str, BestKnown]:
    """Best-known solutions from ``bks.csv``, keyed by instance name."""
    path = Path(path)
    out: dict[str, BestKnown] = {}
    try:
        with path.open(newline="") as fh:
            for line_no, row in enumerate(csv.DictReader(fh), start=2):
                try:
                    out[row["instance"]] = BestKnown(
                        instance=row["instance"],
                        instance_class=row["class"],
                        hier_vehicles=int(row["hier_vehicles"]),
                        hier_distance=float(row["hier_distance"]),
                        dist_vehicles=int(row["dist_vehicles"]),
                        dist_distance=float(row["dist_distance"]),
                    )
                except (KeyError, TypeError, ValueError) as exc:
                    raise ProblemError(f"{path}:{line_no}: bad best-known row ({exc})") from None
    except OSError as exc:
        raise ProblemError(f"cannot read {path}: {exc}") from None
    return out
