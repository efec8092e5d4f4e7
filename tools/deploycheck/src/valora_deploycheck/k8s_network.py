"""NetworkPolicy rules of the platform (default-deny ingress, only the gateway reachable from
outside the cluster) and the selector helpers the manifest checks share."""

from __future__ import annotations

from typing import Any

from valora_deploycheck.findings import Finding

__all__ = ["WORKLOAD_KINDS", "check_network_policies", "ident", "selects"]

WORKLOAD_KINDS = ("Deployment", "StatefulSet")


def ident(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    match = selector.get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def check_network_policies(docs: list[dict[str, Any]], where: str) -> list[Finding]:
    """Default-deny ingress for every pod; only the gateway open to sources outside the cluster
    (a rule without ``from`` or with an ``ipBlock``); other rules only from namespaces."""
    out: list[Finding] = []
    policies = [d for d in docs if d.get("kind") == "NetworkPolicy"]
    deny_all = [
        p
        for p in policies
        if p["spec"].get("podSelector") in ({}, None)
        and "Ingress" in (p["spec"].get("policyTypes") or [])
        and not p["spec"].get("ingress")
    ]
    if not deny_all:
        out.append(Finding("error", where, "no default-deny ingress NetworkPolicy"))
    workload_labels = {
        d["metadata"]["name"]: ((d["spec"].get("template") or {}).get("metadata") or {}).get(
            "labels"
        )
        or {}
        for d in docs
        if d.get("kind") in WORKLOAD_KINDS
    }
    for p in policies:
        for rule in p["spec"].get("ingress") or []:
            sources = rule.get("from")
            external = not sources or any("ipBlock" in s for s in sources)
            if not external:
                continue
            selected = [
                n
                for n, labels in workload_labels.items()
                if selects(p["spec"].get("podSelector") or {}, labels)
            ]
            others = [n for n in selected if n != "gateway"]
            if others:
                out.append(
                    Finding(
                        "error",
                        f"{where}:{ident(p)}",
                        f"opens {others} to traffic from outside the cluster",
                    )
                )
    return out
