"""Connecting the driver to Ray, and what the cells' tasks take with them from the driver's environment.

Ray (2.52 and later) may require token authentication: ``ray start --head`` turns it on when its node
has a token (``$RAY_AUTH_TOKEN``, ``$RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``, the file ``ray.init()``
writes the first time it starts a local instance) and ``$RAY_AUTH_MODE`` is unset. A driver that connects
to an explicit address sends a token only when ``RAY_AUTH_MODE=token`` is set where it runs; without it,
``ray.init`` retries for about 20 s and says only that it could not connect. :func:`connect` asks the
cluster's GCS once first (a TCP connection, then one GCS call, as Ray's own client makes it) so that a
refused token fails at once with what to do (:func:`auth_advice`).

Environment: a task runs in a worker process that the node's raylet started, with the node's environment,
not the driver's. The driver's settings of :data:`bench.env.WORKER_ENV` that are set go with every task
as its runtime environment's ``env_vars`` (:func:`task_runtime_env`); Ray sets ``OMP_NUM_THREADS`` of a
task from its CPU slots unless the driver set it (then the driver's goes).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from bench.env import WORKER_ENV
from bench.errors import ConfigError

log = logging.getLogger(__name__)

GCS_CHECK_TIMEOUT_MS = 5000
AUTH_DOCS = "https://docs.ray.io/en/latest/ray-security/token-auth.html"


def forwarded_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The settings of :data:`bench.env.WORKER_ENV` that are set here: what every cell's task takes along.

    >>> forwarded_env({"HF_HUB_OFFLINE": "1", "HF_TOKEN": "secret", "OMP_NUM_THREADS": ""})
    {'HF_HUB_OFFLINE': '1'}
    """
    environ = os.environ if environ is None else environ
    return {name: environ[name] for name in WORKER_ENV if environ.get(name)}


def task_runtime_env(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Ray task options that send the driver's settings (:func:`forwarded_env`) with a task; ``{}`` when none is set.

    >>> task_runtime_env({"NERBENCH_CACHE": "/c"})
    {'runtime_env': {'env_vars': {'NERBENCH_CACHE': '/c'}}}
    """
    env = forwarded_env(environ)
    return {"runtime_env": {"env_vars": env}} if env else {}


def connect(ray: Any, address: str | None) -> bool:
    """Connect this process to Ray at ``address`` (``None``: ``$RAY_ADDRESS``, else a new local instance);
    ``True`` when this call started the session (the caller shuts it down). A Ray session already started
    in this process is used as it is. Failing to connect is a :class:`ConfigError` that says what to do."""
    if ray.is_initialized():
        return False
    target = address or os.environ.get("RAY_ADDRESS") or None
    if target and _is_gcs_address(target):
        check_gcs(target)
    try:
        # workers' output stays in their cells' logs; Ray's own records go through logging (the run log),
        # not straight to the terminal past the live display
        ray.init(address=address, log_to_driver=False, include_dashboard=False, configure_logging=False)
    except Exception as exc:  # noqa: BLE001 - whatever Ray raises, the user gets one clear message
        if is_auth_failure(exc):
            raise ConfigError(auth_advice(target or "auto")) from None
        raise ConfigError(connect_failure(target, exc)) from None
    return True


def _is_gcs_address(address: str) -> bool:
    """``host:port`` of a cluster's GCS (what ``ray start --head`` prints), not ``auto``, ``local`` or a URL.

    >>> [_is_gcs_address(a) for a in ("10.0.0.5:6379", "auto", "ray://head:10001", "head")]
    [True, False, False, False]
    """
    host, _, port = address.rpartition(":")
    return "://" not in address and bool(host) and port.isdigit()


def check_gcs(address: str) -> None:
    """Fail at once when nothing answers at ``address`` or its GCS refuses this driver's token; any other
    outcome is left to ``ray.init`` (which says more)."""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(f"could not connect to Ray at {address}: nothing answers there ({exc}). Is the cluster's "
                          "head node running? `ray start --head` prints the address to give --ray-address "
                          "(HEAD_IP:6379 by default); `ray status` on the head shows it is up") from None
    try:
        from ray._raylet import InnerGcsClient  # Ray's own GCS client: it sends the token as ray.init would
        from ray.exceptions import AuthenticationError
    except ImportError:
        return  # another Ray: ray.init alone
    try:
        InnerGcsClient.standalone(address, None, GCS_CHECK_TIMEOUT_MS)
    except AuthenticationError:
        raise ConfigError(auth_advice(address)) from None
    except Exception as exc:  # noqa: BLE001 - not an answer about the token: ray.init tries and tells
        log.debug("Ray GCS check of %s: %s", address, exc)


def is_auth_failure(exc: BaseException) -> bool:
    """Whether Ray refused this driver's token: an ``AuthenticationError`` anywhere in the exception's chain,
    or its words (``ray.init`` wraps the GCS client's error in a ``ConnectionError``, its traceback in text).

    >>> is_auth_failure(ConnectionError("Failed to connect to Ray cluster at 10.0.0.5:6379"))
    False
    >>> try:
    ...     try:
    ...         raise RuntimeError("Failed to connect to GCS. Last connection error: ... ray.exceptions."
    ...                            "AuthenticationError: RPC error: InvalidAuthToken: Authentication token is missing")
    ...     except RuntimeError as inner:
    ...         raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.5:6379") from inner
    ... except ConnectionError as exc:
    ...     is_auth_failure(exc)
    True
    """
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        text = f"{type(cause).__name__}: {cause}"
        if "AuthenticationError" in text or "InvalidAuthToken" in text or "Unauthenticated" in text:
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def auth_advice(address: str, environ: dict[str, str] | None = None) -> str:
    """What to do when the cluster at ``address`` refused this driver's token (or its lack of one).

    >>> print(auth_advice("10.0.0.5:6379", {}).splitlines()[0])
    the Ray cluster at 10.0.0.5:6379 requires token authentication and this driver sent no token (RAY_AUTH_MODE is not 'token' here).
    >>> "refused the token from $RAY_AUTH_TOKEN" in auth_advice("h:1", {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "x"})
    True
    """
    environ = os.environ if environ is None else environ
    if environ.get("RAY_AUTH_MODE", "").strip().lower() != "token":
        first = (f"the Ray cluster at {address} requires token authentication and this driver sent no token "
                 "(RAY_AUTH_MODE is not 'token' here).")
    else:
        source = ("$RAY_AUTH_TOKEN" if environ.get("RAY_AUTH_TOKEN") else
                  f"$RAY_AUTH_TOKEN_PATH ({environ['RAY_AUTH_TOKEN_PATH']})" if environ.get("RAY_AUTH_TOKEN_PATH")
                  else "~/.ray/auth_token")
        first = f"the Ray cluster at {address} refused the token from {source}: it is not the cluster's token."
    return (
        f"{first}\n"
        "Give this driver the cluster's token: set RAY_AUTH_MODE=token here and either RAY_AUTH_TOKEN=<token> "
        "(`ray get-auth-token` on the head node prints it), or a copy of the head node's ~/.ray/auth_token at "
        "~/.ray/auth_token here (or RAY_AUTH_TOKEN_PATH=<that file>). Every node that joins the cluster needs "
        "the same (`RAY_AUTH_MODE=token` and the token before `ray start --address=...`).\n"
        "Or run the cluster without authentication: `RAY_AUTH_MODE=disabled ray start ...` on every node "
        f"(a trusted network only). On the head node itself, --ray-address auto finds the token. See {AUTH_DOCS}"
    )


def connect_failure(address: str | None, exc: BaseException) -> str:
    """The message of a failed connection that is not about the token."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    where = address or "a new local instance"
    hint = ""
    if address == "auto":
        hint = ("; --ray-address auto finds a Ray instance started on this machine only (`ray start --head` "
                "here): from another machine give the head's address, --ray-address HEAD_IP:6379")
    elif address and _is_gcs_address(address):
        hint = ("; check that the head node runs the same Ray and Python versions as this driver "
                "(`ray status` on the head) and that this machine can reach it")
    return f"could not connect to Ray at {where}: {first}{hint}"
