"""One plugin manager per kit, the default plugins, and the helpers that call hooks."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import threading
from collections.abc import Callable, Iterable
from typing import Any

import pluggy

from mpesa_daraja_kit import hookspecs
from mpesa_daraja_kit.config import C2BValidationMode
from mpesa_daraja_kit.events import Account, C2BDecision, Event
from mpesa_daraja_kit.hookspecs import PROJECT_NAME, hookimpl

__all__ = [
    "DefaultC2BValidation",
    "HookTimeout",
    "ask",
    "has_host_implementation",
    "make_plugin_manager",
    "notify",
]

DEFAULT_PLUGIN_PREFIX = "mpesa_daraja_kit.default."


class DefaultC2BValidation:
    """The built-in validation answer: accept known accounts (or everything)."""

    def __init__(self, mode: C2BValidationMode) -> None:
        self.mode = mode

    @hookimpl(trylast=True)
    def mpesa_validate_c2b(self, account: Account | None) -> C2BDecision:
        """Accept a known account; reject an unknown one with ``C2B00012``."""
        if self.mode is C2BValidationMode.ALWAYS_ACCEPT or account is not None:
            return C2BDecision.accept()
        return C2BDecision.reject("C2B00012", "Rejected: unknown account number")


def make_plugin_manager(
    plugins: Iterable[Any], *, validation_mode: C2BValidationMode
) -> pluggy.PluginManager:
    """Return a new plugin manager with the kit's specs, defaults and the host's plugins.

    Raises:
        pluggy.PluginValidationError: when a plugin implements a hook that does
            not exist (a misspelling) or with arguments the spec does not have.
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(DefaultC2BValidation(validation_mode), name=DEFAULT_PLUGIN_PREFIX + "c2b")
    for plugin in plugins:
        pm.register(plugin)
    pm.check_pending()
    return pm


def _implementations(pm: pluggy.PluginManager, hook_name: str) -> list[Any]:
    caller = getattr(pm.hook, hook_name)
    # pluggy calls the list back to front (tryfirst/trylast already sorted in).
    return list(reversed(caller.get_hookimpls()))


def has_host_implementation(pm: pluggy.PluginManager, hook_name: str) -> bool:
    """Tell whether a plugin other than the kit's defaults implements ``hook_name``."""
    return any(
        not (pm.get_name(impl.plugin) or "").startswith(DEFAULT_PLUGIN_PREFIX)
        for impl in _implementations(pm, hook_name)
    )


async def ask(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> Any:
    """Call a question hook's implementations in turn; return the first non-None answer."""
    for impl in _implementations(pm, hook_name):
        result = impl.function(*[kwargs[name] for name in impl.argnames])
        if inspect.isawaitable(result):
            result = await result
        if result is not None:
            return result
    return None


class HookTimeout(TimeoutError):
    """An event hook did not return within its time limit and was abandoned."""


async def notify(
    pm: pluggy.PluginManager, event: Event, *, hook_timeout: float | None = None
) -> None:
    """Call every implementation of the event's hook (awaiting ``async def`` ones).

    With a ``hook_timeout`` each implementation gets that many seconds: an ``async def``
    hook is cancelled after it; a plain ``def`` hook runs in a thread of its own (so
    that a blocking call cannot stall the event loop) and is abandoned after it — the
    thread cannot be killed and finishes on its own. Either raises :class:`HookTimeout`.
    """
    for impl in _implementations(pm, event.hook):
        args = [{"event": event}[name] for name in impl.argnames]
        if hook_timeout is None:
            result = impl.function(*args)
            if inspect.isawaitable(result):
                await result
            continue
        try:
            async with asyncio.timeout(hook_timeout):
                if inspect.iscoroutinefunction(impl.function):
                    result = impl.function(*args)
                else:
                    result = await _in_thread(impl.function, args)
                if inspect.isawaitable(result):
                    await result
        except TimeoutError:
            name = pm.get_name(impl.plugin) or type(impl.plugin).__name__
            raise HookTimeout(
                f"hook {event.hook} of plugin {name} timed out after {hook_timeout:g} s"
            ) from None


def _in_thread(function: Callable[..., Any], args: list[Any]) -> asyncio.Future[Any]:
    """Run ``function(*args)`` in a new daemon thread; its result arrives in a future.

    Not a thread pool: a hook abandoned after its timeout keeps its thread busy,
    and must not take a pool worker away from the next hook.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():  # abandoned after its timeout
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def run() -> None:
        try:
            result, error = context.run(function, *args), None
        except BaseException as exc:  # handed to the awaiting task
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="mpesa-kit-hook", daemon=True).start()
    return future
