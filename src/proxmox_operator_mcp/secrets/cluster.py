"""One cluster's credentials, resolved on use through the :class:`SecretResolver`.

A :class:`~proxmox_operator_mcp.config.ClusterConfig` names its credentials either inline
(``token_secret``, ``password``: the env backend and literal values in the TOML file) or by
reference (``token_secret_ref`` ...: file and Vault backends, or explicit ``env:`` references).
:class:`ClusterSecrets` hides the difference from the transports:

* :meth:`ClusterSecrets.identity` says who logs in (token or ticket, user, token id). When the
  configuration names nobody, the identity is read from the backend next to the secret
  (``PROXMOX_API_TOKEN_USER``/``_REALM``/``_ID`` or ``PROXMOX_USERNAME``), so an env block
  moves into Vault unchanged.
* :meth:`ClusterSecrets.secret` is the token secret or the password, read on each use (the
  resolver's cache makes that a dict lookup while the value is fresh).
* :meth:`ClusterSecrets.refresh` is the 401 path: read everything again, say whether anything
  changed (then the caller retries once).
* :meth:`ClusterSecrets.ssh_target` fills an SSH target's client key and passphrase when they
  come from the backend.

Nothing here contacts a backend before the first request.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import anyio
from pydantic import SecretStr

from ..errors import SecretError
from .base import SecretNotFound, SecretRef
from .resolver import SecretResolver

if TYPE_CHECKING:
    from ..config import ClusterConfig
    from ..transports.ssh import SshTarget

__all__ = ["ClusterSecrets", "Identity", "SecretLine"]

TOKEN_SECRET = "PROXMOX_API_TOKEN_SECRET"
PASSWORD = "PROXMOX_PASSWORD"
SSH_KEY = "PROXMOX_SHELL_SSH_PRIVATE_KEY"
SSH_PASSPHRASE = "PROXMOX_SHELL_SSH_PRIVATE_KEY_PASSPHRASE"
TOKEN_USER = "PROXMOX_API_TOKEN_USER"
TOKEN_REALM = "PROXMOX_API_TOKEN_REALM"
TOKEN_ID = "PROXMOX_API_TOKEN_ID"
USERNAME = "PROXMOX_USERNAME"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who logs in to PVE. Not secret."""

    kind: Literal["token", "ticket"]
    userid: str  # user@realm: the token's owner, or the ticket user
    token_id: str | None = None

    @property
    def full_id(self) -> str:
        """``user@realm!tokenid`` for a token, ``user@realm`` for a ticket."""
        return f"{self.userid}!{self.token_id}" if self.kind == "token" else self.userid

    def describe(self) -> str:
        return f"API token {self.full_id}" if self.kind == "token" else f"ticket as {self.userid}"


@dataclass(frozen=True, slots=True)
class SecretLine:
    """One line of ``proxmox-mcp doctor``'s secrets section. Never holds a value."""

    name: str  # the environment variable's name: PROXMOX_API_TOKEN_SECRET ...
    source: str  # a reference (vault:secret/x#FIELD) or "inline"
    resolved: bool
    error: str | None = None
    optional: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "source": self.source, "resolved": self.resolved}
        if self.error:
            out["error"] = self.error
        if self.optional:
            out["optional"] = True
        return out


def _where(ref: SecretRef) -> str:
    """The place of a reference without its field: ``vault:secret/proxmox``, ``file:homelab``."""
    if ref.path is None:
        return f"{ref.backend} (top level)" if ref.backend == "file" else ref.backend
    return f"{ref.backend}:{ref.path}"


def _unescape_key(text: str) -> str:
    # Keys kept in env vars are often one line with literal "\n"; the same text pasted into a
    # file or Vault must work too.
    return text.replace("\\n", "\n") if "\n" not in text and "\\n" in text else text


class ClusterSecrets:
    """The credentials of one cluster (see the module docstring).

    Args:
        cluster: the cluster's configuration.
        resolver: resolves the cluster's references.
    """

    def __init__(self, cluster: ClusterConfig, resolver: SecretResolver) -> None:
        self._cluster = cluster
        self._resolver = resolver
        self._identity: Identity | None = self._configured_identity()
        self._last: SecretStr | None = None
        self._generation = 0
        self._refresh_lock = anyio.Lock()

    def __repr__(self) -> str:
        return f"ClusterSecrets(cluster={self._cluster.name!r}, source={self.source()!r})"

    # --- what is configured (no I/O) ---------------------------------------------------------

    @property
    def resolver(self) -> SecretResolver:
        return self._resolver

    @property
    def deferred(self) -> bool:
        """True when the identity (token user and id, or user name) is read from the backend."""
        c = self._cluster
        return not (c.token_user or c.token_id or c.username) and (
            c.token_secret_ref is not None or c.password_ref is not None
        )

    @property
    def refreshable(self) -> bool:
        """True when the credentials come from a backend (a 401 is worth reading them again)."""
        c = self._cluster
        return c.token_secret_ref is not None or c.password_ref is not None

    @property
    def generation(self) -> int:
        """Counts completed refreshes; a caller passes the one it saw to :meth:`refresh`."""
        return self._generation

    def known_identity(self) -> Identity | None:
        """The identity if known without I/O (configured, or read from the backend already)."""
        return self._identity

    def source(self, kind: Literal["token", "ticket"] | None = None) -> str:
        """Where the token secret or password comes from, for messages: a reference or "inline"."""
        c = self._cluster
        kind = kind or (self._identity.kind if self._identity else None)
        if kind is None:
            refs = [r for r in (c.token_secret_ref, c.password_ref) if r is not None]
            return _where(refs[0]) if refs else "inline"
        ref = c.token_secret_ref if kind == "token" else c.password_ref
        return str(ref) if ref is not None else "inline"

    def _configured_identity(self) -> Identity | None:
        c = self._cluster
        if c.token_user and c.token_id:
            return Identity("token", c.token_userid or c.token_user, c.token_id)
        if c.username:
            return Identity("ticket", c.username)
        return None

    # --- resolution ----------------------------------------------------------------------------

    async def identity(self) -> Identity:
        """Who logs in.

        Raises:
            SecretError: the identity is read from the backend and could not be.
        """
        ident = self._identity
        if ident is not None:
            return ident
        ident = await self._read_identity()
        self._identity = ident
        return ident

    async def _read_identity(self) -> Identity:
        c = self._cluster
        r = self._resolver
        try:
            if c.token_secret_ref is not None:
                base = c.token_secret_ref
                token_id = await r.get_optional(base.with_field(TOKEN_ID), sensitive=False)
                if token_id is not None:
                    user = await r.get_optional(base.with_field(TOKEN_USER), sensitive=False)
                    if user is None:
                        raise SecretError(
                            f"{base.with_field(TOKEN_ID)} is set but {base.with_field(TOKEN_USER)} is not",
                            hint=f"add {TOKEN_USER} (e.g. root, or root@pam) next to {TOKEN_ID}",
                        )
                    realm = await r.get_optional(base.with_field(TOKEN_REALM), sensitive=False)
                    u = user.get_secret_value().strip()
                    userid = u if "@" in u else f"{u}@{(realm.get_secret_value().strip() if realm else '') or 'pam'}"
                    return Identity("token", userid, token_id.get_secret_value().strip())
            if c.password_ref is not None:
                base = c.password_ref
                name = await r.get_optional(base.with_field(USERNAME), sensitive=False)
                if name is not None:
                    userid = name.get_secret_value().strip()
                    if "@" not in userid:
                        raise SecretError(
                            f"{base.with_field(USERNAME)} ({userid}) needs a realm",
                            hint=f"write it as user@realm, e.g. {userid}@pam",
                        )
                    return Identity("ticket", userid)
        except SecretError as exc:
            raise self._wrap(exc, "the login identity") from None
        where = self.source()
        raise SecretError(
            f"Cannot log in to cluster {c.name!r}: {where} has neither {TOKEN_ID} nor {USERNAME}. "
            "Nothing was sent to Proxmox.",
            hint=f"put {TOKEN_USER}, {TOKEN_ID} and {TOKEN_SECRET} (or {USERNAME} and {PASSWORD}) there, or name "
            "the token user and id in the configuration (PROXMOX_API_TOKEN_USER, PROXMOX_API_TOKEN_ID)",
        )

    async def secret(self) -> SecretStr:
        """The token secret or the password, as of now.

        Raises:
            SecretError: it could not be read (the message names the cluster and the reference).
        """
        ident = await self.identity()
        c = self._cluster
        literal, ref = (c.token_secret, c.token_secret_ref) if ident.kind == "token" else (c.password, c.password_ref)
        if literal is not None:
            return literal
        if ref is None:
            raise SecretError(
                f"cluster {c.name!r} has no {'token secret' if ident.kind == 'token' else 'password'} configured",
                hint="set PROXMOX_API_TOKEN_SECRET (or PROXMOX_PASSWORD), or a reference to it",
            )
        try:
            value = await self._resolver.get(ref)
        except SecretError as exc:
            raise self._wrap(exc, "the API token secret" if ident.kind == "token" else "the password", ref) from None
        self._last = value
        return value

    async def refresh(self, seen_generation: int | None = None) -> bool:
        """Read the credentials again after PVE refused them (401).

        Returns True when something changed (retry once), False when the backend holds what
        was just refused. When another request refreshed since ``seen_generation``, nothing
        is read and True is returned: the caller retries with the fresh values.

        Raises:
            SecretError: the backend could not be read again.
        """
        if not self.refreshable:
            return False
        async with self._refresh_lock:
            if seen_generation is not None and seen_generation != self._generation:
                return True
            old_ident, old_value = self._identity, self._last
            c = self._cluster
            for ref in (c.token_secret_ref, c.password_ref):
                if ref is None:
                    continue
                self._resolver.invalidate(ref)
                if self.deferred:
                    for f in (TOKEN_ID, TOKEN_USER, TOKEN_REALM, USERNAME):
                        self._resolver.invalidate(ref.with_field(f))
            if self.deferred:
                self._identity = None
            ident = await self.identity()
            value = await self.secret()
            self._generation += 1
            if ident != old_ident or old_value is None:
                return True
            return value.get_secret_value() != old_value.get_secret_value()

    async def ssh_target(self, target: SshTarget) -> SshTarget:
        """``target`` with its client key and passphrase from the backend where it has none.

        The key is read when the target has neither key text nor a key file; the passphrase
        (optional: a missing field means an unencrypted key) whenever the target has none.
        Returns ``target`` itself when nothing comes from the backend.

        Raises:
            SecretError: the key (or the passphrase) could not be read.
        """
        c = self._cluster
        changes: dict[str, Any] = {}
        if target.client_key is None and target.client_key_path is None and c.ssh_private_key_ref is not None:
            try:
                key = await self._resolver.get(c.ssh_private_key_ref)
            except SecretError as exc:
                raise self._wrap(exc, f"the SSH client key for node {target.node}", c.ssh_private_key_ref) from None
            changes["client_key"] = SecretStr(_unescape_key(key.get_secret_value()))
        if target.passphrase is None and c.ssh_passphrase_ref is not None:
            try:
                passphrase = await self._resolver.get_optional(c.ssh_passphrase_ref)
            except SecretError as exc:
                raise self._wrap(exc, "the SSH key passphrase", c.ssh_passphrase_ref) from None
            if passphrase is not None:
                changes["passphrase"] = passphrase
        return dataclasses.replace(target, **changes) if changes else target

    # --- doctor --------------------------------------------------------------------------------

    async def report(self) -> tuple[Identity | None, list[SecretLine]]:
        """Read every credential afresh and say whether it resolved; never raises, never a value."""
        c = self._cluster
        lines: list[SecretLine] = []
        ident: Identity | None
        if self.deferred:
            self._identity = None
            try:
                ident = await self.identity()
                lines.append(SecretLine("identity", self.source(), True))
            except SecretError as exc:
                lines.append(SecretLine("identity", self.source(), False, self._text(exc)))
                ident = None
        else:
            ident = self._identity
        if ident is not None:
            name = TOKEN_SECRET if ident.kind == "token" else PASSWORD
            ref = c.token_secret_ref if ident.kind == "token" else c.password_ref
            if ref is None:
                lines.append(SecretLine(name, "inline", True))
            else:
                check = await self._resolver.check(ref)
                lines.append(SecretLine(name, str(ref), check.resolved, check.error))
        if c.ssh_private_key_ref is not None:
            check = await self._resolver.check(c.ssh_private_key_ref)
            lines.append(SecretLine(SSH_KEY, str(c.ssh_private_key_ref), check.resolved, check.error))
        if c.ssh_passphrase_ref is not None:
            ref = c.ssh_passphrase_ref
            try:
                self._resolver.invalidate(ref)
                found = await self._resolver.get_optional(ref)
                lines.append(SecretLine(SSH_PASSPHRASE, str(ref), found is not None, None, optional=True))
            except SecretError as exc:
                lines.append(SecretLine(SSH_PASSPHRASE, str(ref), False, self._text(exc), optional=True))
        return ident, lines

    # --- errors --------------------------------------------------------------------------------

    def _text(self, exc: SecretError) -> str:
        from .redact import REDACTOR

        return REDACTOR.redact(exc.message)

    def _wrap(self, exc: SecretError, what: str, ref: SecretRef | None = None) -> SecretError:
        # "(ref): " and not "from ref: ": the redactor masks whatever follows "…_SECRET: ".
        where = f" ({ref})" if ref is not None else ""
        cls = SecretNotFound if isinstance(exc, SecretNotFound) else SecretError
        return cls(
            f"Cannot get {what} of cluster {self._cluster.name!r}{where}: {exc.message.rstrip('.')}. "
            "Nothing was sent to Proxmox.",
            hint=exc.hint,
        )
