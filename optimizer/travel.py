"""Road distance and travel-time matrices from coordinates.

Road distance is approximated as great-circle (haversine) distance times a circuity
factor; travel time divides it by a free-flow speed, and a 24-hour speed profile
scales it by time of day (rush hour is slower).
"""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Pairwise great-circle distances (km) between points given in degrees."""
    lat_r = np.radians(np.asarray(lat, dtype=float))
    lon_r = np.radians(np.asarray(lon, dtype=float))
    dlat = lat_r[:, None] - lat_r[None, :]
    dlon = lon_r[:, None] - lon_r[None, :]
    a = (
        np.sin(dlat / 2) ** 2
        + np.cos(lat_r)[:, None] * np.cos(lat_r)[None, :] * np.sin(dlon / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def haversine_pair_km(lat1: float, lon1: float, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distances (km) from one point to many."""
    p1, l1 = np.radians(lat1), np.radians(lon1)
    p2, l2 = np.radians(np.asarray(lat2, dtype=float)), np.radians(np.asarray(lon2, dtype=float))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def road_distance_km(lat: np.ndarray, lon: np.ndarray, circuity: float) -> np.ndarray:
    """Pairwise road distance estimate: haversine times the circuity factor (typically 1.2-1.4)."""
    return haversine_km(lat, lon) * circuity


def travel_min(distance_km: np.ndarray, speed_kmh: float, speed_factor: float = 1.0) -> np.ndarray:
    """Travel minutes at a free-flow speed scaled by a time-of-day factor (<1 = slower)."""
    if speed_kmh <= 0 or speed_factor <= 0:
        raise ValueError("speed_kmh and speed_factor must be positive")
    return distance_km / (speed_kmh * speed_factor) * 60.0
