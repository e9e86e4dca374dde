"""The small files stored beside a checkpoint: ``null_threshold.json`` (the tuned SQuAD 2.0 no-answer
threshold) and ``fusion.json`` (tuned score-fusion values: a main entry, tuned with BM25, and optional named
``"profiles"`` for retrievers whose scores are shaped differently; see :func:`stored_fusion` for the lookup
order). A broken file is ignored with one warning; the reader then uses the built-in defaults."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from spanbert_reader.data import jsonio
from spanbert_reader.inference.ranking import (
    DEFAULT_FUSION,
    PROFILE_DEFAULTS,
    FusionSettings,
    check_fusion_profile,
    usable_number,
)

logger = logging.getLogger(__name__)

NULL_THRESHOLD_FILE = "null_threshold.json"
FUSION_FILE = "fusion.json"


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = jsonio.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("Ignoring %s: not readable JSON (%s)", path, exc)
        return None
    if not isinstance(data, dict):
        logger.warning("Ignoring %s: expected a JSON object", path)
        return None
    return data


def _write_json(folder: str | Path, name: str, record: dict[str, Any]) -> Path:
    path = Path(folder) / name
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def read_null_threshold(folder: str | Path) -> float | None:
    """The no-answer threshold stored in a checkpoint folder by evaluation or training, if any."""
    path = Path(folder) / NULL_THRESHOLD_FILE
    data = _read_json(path)
    if data is None:
        return None
    value = data.get("null_threshold")
    if not usable_number(value):
        logger.warning('Ignoring %s: expected {"null_threshold": <number>}', path)
        return None
    return float(value)


def write_null_threshold(folder: str | Path, threshold: float, **details: Any) -> Path:
    """Store a tuned no-answer threshold next to a checkpoint; the reader picks it up at warm-up."""
    return _write_json(folder, NULL_THRESHOLD_FILE, {"null_threshold": float(threshold), **details})


def _fusion_entry(data: dict[str, Any], path: Path, label: str) -> FusionSettings | None:
    try:
        return FusionSettings(retriever_weight=data["retriever_weight"],
                              normalization=data.get("retriever_normalization", "minmax"),
                              aggregate=data.get("aggregate_answers", False))
    except (KeyError, TypeError, ValueError) as exc:
        logger.warning("Ignoring %s of %s: %s", label, path, exc)
        return None


def _select_fusion(data: dict[str, Any] | None, path: Path, profile: str | None) -> FusionSettings | None:
    """The main entry (``profile`` None) or the named profile's entry of a loaded ``fusion.json``, if usable."""
    if data is None:
        return None
    if profile is None:
        if "retriever_weight" not in data and "profiles" not in data and "calibration" not in data:
            logger.warning('Ignoring %s: expected {"retriever_weight": <number>, ...} and/or {"profiles": {...}}', path)
            return None
        return _fusion_entry(data, path, "the main entry") if "retriever_weight" in data else None
    profiles = data.get("profiles")
    entry = profiles.get(profile) if isinstance(profiles, dict) else None
    if entry is None:
        return None
    if not isinstance(entry, dict):
        logger.warning("Ignoring profile %r of %s: expected a JSON object", profile, path)
        return None
    if "retriever_weight" not in entry:  # a profile holding a calibration only
        return None
    return _fusion_entry(entry, path, f"profile {profile!r}")


def stored_fusion(folder: str | Path, profile: str | None = None) -> FusionSettings:
    """The fusion settings a reader uses when its init parameters leave them open, first found of: the
    profile's entry in ``fusion.json``; the built-in default of that profile; the main entry of ``fusion.json``;
    the built-in main default. (A profile's own values win over values tuned for another retriever.)"""
    return stored_scoring(folder, profile)[0]


def stored_calibration(folder: str | Path, profile: str | None = None):
    """The calibration stored in ``fusion.json`` (the profile's entry, else the main entry), or None."""
    return stored_scoring(folder, profile)[1]


def stored_scoring(folder: str | Path, profile: str | None = None):
    """``(fusion settings, calibration or None)`` from one read of ``fusion.json`` (a broken file is warned about
    once): see :func:`stored_fusion` and :func:`stored_calibration`."""
    check_fusion_profile(profile)
    path = Path(folder) / FUSION_FILE
    data = _read_json(path)
    return _fusion_from(data, path, profile), _calibration_from(data, path, profile)


def _fusion_from(data: dict[str, Any] | None, path: Path, profile: str | None) -> FusionSettings:
    if profile is not None:
        found = _select_fusion(data, path, profile) or PROFILE_DEFAULTS.get(profile)
        if found is not None:
            return found
    return _select_fusion(data, path, None) or DEFAULT_FUSION


def _calibration_from(data: dict[str, Any] | None, path: Path, profile: str | None):
    from spanbert_reader.inference.calibration import Calibration

    if data is None:
        return None
    profiles = data.get("profiles") if isinstance(data.get("profiles"), dict) else {}
    candidates = ((f"profile {profile!r}", profiles.get(profile) if profile else None), ("the main entry", data))
    for label, entry in candidates:
        record = entry.get("calibration") if isinstance(entry, dict) else None
        if record is None:
            continue
        try:
            return Calibration.from_dict(record)
        except ValueError as exc:
            logger.warning("Ignoring the calibration of %s in %s: %s", label, path, exc)
    return None


def write_calibration(folder: str | Path, calibration, profile: str | None = None) -> Path:
    """Store a fitted calibration in ``fusion.json`` (the main entry, or ``profile``'s), keeping everything else."""
    check_fusion_profile(profile)
    path = Path(folder) / FUSION_FILE
    record = _read_json(path) or {}
    if profile is None:
        record["calibration"] = calibration.to_dict()
    else:
        profiles = record.get("profiles") if isinstance(record.get("profiles"), dict) else {}
        profiles[profile] = {**profiles.get(profile, {}), "calibration": calibration.to_dict()}
        record["profiles"] = profiles
    return _write_json(folder, FUSION_FILE, record)


def write_fusion(folder: str | Path, fusion: FusionSettings, profile: str | None = None, **details: Any) -> Path:
    """Store tuned fusion settings next to a checkpoint (the main entry, or ``profile``'s entry; the other
    entries of an existing ``fusion.json`` are kept); the reader picks them up at warm-up."""
    check_fusion_profile(profile)
    path = Path(folder) / FUSION_FILE
    entry = {"retriever_weight": fusion.retriever_weight, "retriever_normalization": fusion.normalization,
             "aggregate_answers": fusion.aggregate, **details}
    existing = _read_json(path) or {}
    profiles = existing.get("profiles") if isinstance(existing.get("profiles"), dict) else {}
    if profile is None:
        record = dict(entry)
        if "calibration" in existing:  # fitted separately (eval --tune-calibration): kept
            record["calibration"] = existing["calibration"]
    else:
        record = {k: v for k, v in existing.items() if k != "profiles"}
        old = profiles.get(profile) if isinstance(profiles.get(profile), dict) else {}
        profiles = {**profiles, profile: {**entry, **({"calibration": old["calibration"]} if "calibration" in old
                                                      else {})}}
    if profiles:
        record["profiles"] = profiles
    return _write_json(folder, FUSION_FILE, record)
