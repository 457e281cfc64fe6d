"""``mpesa-kit simulator``: serve the local Daraja simulator."""

from __future__ import annotations

import click

from mpesa_daraja_kit.config import Environment, Settings
from mpesa_daraja_kit.errors import ConfigError
from mpesa_daraja_kit.simulator import (
    MsisdnMode,
    Outcome,
    RetryPolicy,
    Simulator,
    SimulatorConfig,
)


@click.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8089, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--callback-delay",
    default=2.0,
    show_default=True,
    type=float,
    help="Seconds the simulated customer takes to answer a prompt.",
)
@click.option(
    "--token-lifetime", default=3599, show_default=True, type=int, help="Token lifetime (s)."
)
@click.option(
    "--default-outcome",
    type=click.Choice([o.value for o in Outcome]),
    default=Outcome.SUCCESS.value,
    show_default=True,
    help="Outcome when neither the queue nor the phone rule chooses one.",
)
@click.option(
    "--msisdn-mode",
    type=click.Choice([m.value for m in MsisdnMode]),
    default=MsisdnMode.HASHED.value,
    show_default=True,
    help="How C2B payloads show the payer's number.",
)
@click.option(
    "--c2b-validation/--no-c2b-validation",
    default=False,
    show_default=True,
    help="Ask the registered validation URL before confirming a C2B payment.",
)
@click.option(
    "--banned-words-check/--no-banned-words-check",
    default=True,
    show_default=True,
    help="Refuse C2B URLs containing mpesa, safaricom, exec, cmd, sql or query.",
)
@click.option(
    "--allow-plain-http",
    is_flag=True,
    help="Accept http:// callback URLs on any host (default: https, or http to localhost).",
)
@click.option(
    "--callback-attempts",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Attempts per callback (Daraja itself is said not to retry).",
)
@click.option("--log-level", default="info", show_default=True, help="uvicorn log level.")
def simulator(
    host: str,
    port: int,
    callback_delay: float,
    token_lifetime: int,
    default_outcome: str,
    msisdn_mode: str,
    c2b_validation: bool,
    banned_words_check: bool,
    allow_plain_http: bool,
    callback_attempts: int,
    log_level: str,
) -> None:
    """Serve a local Daraja on HOST:PORT (credentials from the MPESA_* environment).

    Point the kit at it with MPESA_ENVIRONMENT=simulator (or MPESA_BASE_URL).
    Drive outcomes with the phone rule or POST /simulator/next-outcome; see
    docs/simulator.md.
    """
    import uvicorn

    try:
        # The same MPESA_* variables as the kit, so both agree on key, secret,
        # short code and passkey; unset ones fall back to the simulator defaults.
        settings = Settings.from_env(environment=Environment.SIMULATOR)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    config = SimulatorConfig(
        token_lifetime=token_lifetime,
        callback_delay=callback_delay,
        default_outcome=Outcome(default_outcome),
        msisdn_mode=MsisdnMode(msisdn_mode),
        c2b_validation=c2b_validation,
        banned_words_check=banned_words_check,
        allow_plain_http=allow_plain_http,
        retry=RetryPolicy(attempts=callback_attempts),
    )
    sim = Simulator(settings, config=config)
    click.echo(
        f"Daraja simulator on http://{host}:{port} (short code {sim.short_code}); "
        f"control endpoints under /simulator/"
    )
    uvicorn.run(sim.app, host=host, port=port, log_level=log_level)
