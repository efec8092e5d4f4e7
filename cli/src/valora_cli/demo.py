"""``valora demo``: bring the platform up and show it working end to end (``make run``).

Starts the dev stack (real Kafka, PostgreSQL, MLflow and every Valora service), publishes
synthetic listings, asks for a first training run, waits for the champion, makes a prediction
through the gateway with the older project's request body, and prints it with the URLs.
"""

from __future__ import annotations

import json
import time
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.panel import Panel
from valora_devstack import DevstackError, DevstackSettings, parse_replicas
from valora_devstack import stack as devstack
from valora_devstack.services import SERVICES

from valora_cli import listings, train

app = typer.Typer(help="Bring the platform up and show a real prediction.")
console = Console()

SEED_BODY = {
    "area": 120.5,
    "quartos": 3,
    "banheiros": 2,
    "idade": 5.0,
    "garagem": 1,
    "bairro": "Zona Sul",
}


def service_url(settings: DevstackSettings, name: str) -> str:
    """The local URL of a dev-stack service (one source of truth: the stack's registry)."""
    spec = next(s for s in SERVICES if s.name == name)
    return f"http://127.0.0.1:{spec.port + settings.service_port_offset}"


def wait_for_champion(gateway: str, *, timeout_s: float) -> dict[str, object]:
    """Poll ``GET /models/champion`` until a champion serves (or give up)."""
    deadline = time.monotonic() + timeout_s
    with console.status("waiting for the first champion (training with Optuna)...") as status:
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"{gateway}/models/champion", timeout=5)
                if response.status_code == 200:
                    champion: dict[str, object] = response.json()
                    return champion
                status.update(f"waiting for the first champion ({response.status_code})...")
            except httpx.HTTPError:
                status.update("waiting for the gateway...")
            time.sleep(2)
    console.print(
        f"[red]no champion after {timeout_s:.0f} s[/]: see `valora stack status`, "
        "and .valora/logs/trainer.log"
    )
    raise typer.Exit(1)


def predict(gateway: str, *, attempts: int = 30) -> httpx.Response:
    """POST the older project's body; retry while the predictor is still loading the model."""
    response = httpx.post(f"{gateway}/predict", json=SEED_BODY, timeout=30)
    for _ in range(attempts):
        if response.status_code not in (503, 504):
            break
        time.sleep(2)
        response = httpx.post(f"{gateway}/predict", json=SEED_BODY, timeout=30)
    return response


@app.callback(invoke_without_command=True)
def demo(
    listings_n: Annotated[
        int, typer.Option("--listings", min=1000, help="Synthetic listings to publish.")
    ] = 6000,
    trials: Annotated[int, typer.Option(min=1, help="Optuna trials of the first run.")] = 12,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a champion.")] = 900.0,
    replicas: Annotated[
        str, typer.Option(help="Replicas per service, e.g. validator=2,ingestion=2.")
    ] = "",
) -> None:
    """Start everything, train a first model, and predict through the gateway."""
    settings = DevstackSettings()
    try:
        with console.status("starting Kafka, PostgreSQL, MLflow and the Valora services..."):
            result = devstack.up(settings, replicas=parse_replicas(replicas))
        for status in result.statuses:
            console.print(f"  {status.name:<16} {status.state.value:<9} {status.address}")
    except DevstackError as exc:
        console.print(f"[red]stack up failed:[/] {exc}")
        raise typer.Exit(1) from exc
    gateway = service_url(settings, "gateway")

    probe = httpx.get(f"{gateway}/models/champion", timeout=10)
    if probe.status_code != 200:
        listings.publish(
            file=None,
            synthetic=listings_n,
            seed=42,
            drift=None,
            drift_file=None,
            naming=listings.Naming.pt,
            source="demo",
            file_format=listings.FileFormat.auto,
        )
        train.train(
            model=None,
            trials=trials,
            reason=train.Reason.manual,
            wait=False,
            timeout=timeout,
            predictor_url=None,
        )
        champion = wait_for_champion(gateway, timeout_s=timeout)
    else:
        champion = probe.json()

    response = predict(gateway)
    if response.status_code != 200:
        console.print(f"[red]prediction failed ({response.status_code}):[/] {response.text}")
        raise typer.Exit(1)
    console.print(
        Panel(
            f"POST {gateway}/predict\n{json.dumps(SEED_BODY)}\n\n"
            f"{json.dumps(response.json(), indent=2)}",
            title=f"a real prediction (champion: {champion.get('model_name')} "
            f"v{champion.get('model_version')})",
        )
    )
    lines = [
        f"gateway docs   {gateway}/docs",
        f"MLflow UI      {settings.mlflow_url_str}",
        "metrics        "
        + "  ".join(f"{s.name}: {service_url(settings, s.name)}/metrics" for s in SERVICES),
        "stack status   uv run valora stack status     (stop everything: make stop)",
    ]
    console.print(Panel("\n".join(lines), title="Valora is running"))
