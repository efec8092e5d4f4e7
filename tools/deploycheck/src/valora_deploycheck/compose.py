"""Offline checks of ``compose/docker-compose.yml``: interpolation against ``.env.example``, the
compose-spec JSON Schema (vendored: ``schemas/compose-spec.json`` from compose-spec/compose-go),
and the structural rules compose enforces at ``up`` time (dependencies, healthchecks, jobs)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import yaml

from valora_deploycheck.findings import Finding

__all__ = [
    "ComposeProject",
    "check_compose",
    "interpolate",
    "load_compose",
    "parse_env_file",
    "service_env",
]

_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)
SECRETISH = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|CREDENTIAL", re.I)
# Variables compose itself reads from the env file (not interpolated into the file).
COMPOSE_OWN_VARS = {"COMPOSE_PROJECT_NAME"}


def compose_schema() -> dict[str, Any]:
    text = files("valora_deploycheck").joinpath("schemas/compose-spec.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def parse_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}: not KEY=VALUE: {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


@dataclass
class Interpolation:
    used: set[str]
    required_missing: list[str]


def interpolate(node: Any, env: Mapping[str, str], acc: Interpolation) -> Any:
    """Compose's variable substitution (``$$``, ``${V}``, ``${V:-d}``, ``${V-d}``, ``${V:?e}``,
    ``${V?e}``, ``${V:+a}``, ``${V+a}``, ``$V``), recursively over mappings and lists."""
    if isinstance(node, dict):
        return {k: interpolate(v, env, acc) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env, acc) for v in node]
    if not isinstance(node, str):
        return node

    def sub(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        name = m.group("braced") or m.group("plain")
        acc.used.add(name)
        op, arg = m.group("op"), m.group("arg") or ""
        value = env.get(name)
        if op in (":-", "-"):
            unset = value is None or (op == ":-" and value == "")
            return interpolate(arg, env, acc) if unset else str(value)
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                acc.required_missing.append(f"{name} ({arg.strip() or 'required'})")
                return ""
            return value
        if op in (":+", "+"):
            isset = value is not None and (op == "+" or value != "")
            return interpolate(arg, env, acc) if isset else ""
        return value or ""

    return _VAR.sub(sub, node)


@dataclass
class ComposeProject:
    path: Path
    raw: dict[str, Any]  # as written (merge keys resolved)
    model: dict[str, Any]  # interpolated
    env: dict[str, str]
    interpolation: Interpolation

    @property
    def services(self) -> dict[str, Any]:
        services: dict[str, Any] = self.model.get("services") or {}
        return services


def load_compose(path: Path, env_file: Path) -> ComposeProject:
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: not a mapping")
    env = parse_env_file(env_file)
    acc = Interpolation(set(), [])
    model = interpolate(raw, env, acc)
    return ComposeProject(path, raw, model, env, acc)


def service_env(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _depends(service: Mapping[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {d: "service_started" for d in deps}
    return {k: (v or {}).get("condition", "service_started") for k, v in deps.items()}


def check_compose(path: Path, env_file: Path) -> list[Finding]:
    """Schema and structure of the compose file (agreement with the code: see consistency)."""
    where = path.name
    try:
        project = load_compose(path, env_file)
    except (yaml.YAMLError, ValueError) as exc:
        return [Finding("error", where, f"cannot load: {exc}")]
    out: list[Finding] = []
    for missing in project.interpolation.required_missing:
        out.append(
            Finding("error", where, f"required variable unset in {env_file.name}: {missing}")
        )
    validator = jsonschema.Draft202012Validator(compose_schema())
    model = {k: v for k, v in project.model.items() if not k.startswith("x-")}
    for err in sorted(validator.iter_errors(model), key=lambda e: list(e.absolute_path)):
        loc = "/".join(str(p) for p in err.absolute_path) or "(root)"
        out.append(Finding("error", where, f"schema: {loc}: {err.message}"))
    if out:
        return out
    services = project.services
    for name, svc in services.items():
        loc = f"{where}:services.{name}"
        if "image" not in svc and "build" not in svc:
            out.append(Finding("error", loc, "neither image nor build"))
        for dep, cond in _depends(svc).items():
            target = services.get(dep)
            if target is None:
                out.append(Finding("error", loc, f"depends_on unknown service {dep}"))
                continue
            if cond == "service_healthy" and not (target.get("healthcheck") or {}).get("test"):
                out.append(
                    Finding("error", loc, f"waits for {dep} healthy, which has no healthcheck")
                )
            if cond == "service_completed_successfully" and target.get("restart", "no") != "no":
                out.append(
                    Finding("error", loc, f"waits for job {dep} to complete, but it restarts")
                )
        is_job = svc.get("restart", "no") == "no"
        if not is_job and not (svc.get("healthcheck") or {}).get("test"):
            out.append(Finding("error", loc, "long-running service without a healthcheck"))
        for key, value in service_env(svc).items():
            raw_value = str(
                ((project.raw["services"][name].get("environment") or {}) or {}).get(key, "")
            )
            if SECRETISH.search(key) and value and "${" not in raw_value:
                out.append(Finding("error", loc, f"{key} is a literal in the compose file"))
    # Interpolated credentials inside URLs must come from variables, never literals.
    for name, svc in project.raw.get("services", {}).items():
        for key, value in (svc.get("environment") or {}).items():
            if isinstance(value, str) and re.search(r"://[^/:@\s]+:[^@\s$]+@", value):
                out.append(
                    Finding("error", f"{where}:services.{name}", f"{key}: literal password in URL")
                )
    # The env file: every variable without default used by the file is defined there; every
    # variable defined there is used; secrets there are marked local-only; no VALORA_* (a root
    # .env would leak into `make run`).
    for key, value in project.env.items():
        if key.startswith("VALORA_"):
            out.append(
                Finding("error", env_file.name, f"{key}: VALORA_* settings do not belong here")
            )
        if key not in project.interpolation.used and key not in COMPOSE_OWN_VARS:
            out.append(Finding("error", env_file.name, f"{key} is not used by {where}"))
        if SECRETISH.search(key) and value and "local-only" not in value:
            out.append(
                Finding("error", env_file.name, f"{key} must be empty or a local-only value")
            )
    from valora_deploycheck.hardening import check_compose_hardening

    return out + check_compose_hardening(project)
