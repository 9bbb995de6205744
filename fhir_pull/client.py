"""A small FHIR R4 search client: httpx for HTTP, fhir.resources' R4B models to parse the bundles.

Every failure is a :class:`FhirError` whose message is shown to the user as it is (the review screen, the pull's
record): a timeout, a server that cannot be reached, an HTTP error, an answer that is not JSON or not a valid
Bundle, a missing secret. Nothing here touches the database.

Secrets: an endpoint names an environment variable (``FHIR_SECRET_...``), read here at each pull; a bearer token
is sent as it is, a client secret is exchanged for an access token at the token URL (OAuth2 client credentials).
The token goes only to the endpoint's own origin: a ``next`` link to another host is refused.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

import httpx
import pydantic
from django.utils import formats
from django.utils.translation import gettext as _
from fhir.resources.R4B.bundle import Bundle

#: At most this many pages per search: a server whose next links never end is stopped, not followed forever.
MAX_PAGES = 50


class FhirError(Exception):
    """A pull that could not be done; the message says why, for the user."""


@dataclass(frozen=True)
class Connection:
    """What the client needs of an endpoint (fhir_pull.models.FhirEndpoint)."""

    base_url: str
    auth_kind: str = "none"
    secret_env: str = ""
    token_url: str = ""
    client_id: str = ""

    @classmethod
    def of(cls, endpoint) -> Connection:
        return cls(endpoint.base_url, endpoint.auth_kind, endpoint.secret_env, endpoint.token_url, endpoint.client_id)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _short(text: str, length: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "\u2026"


class FhirClient:
    """Searches one FHIR server within a time budget: ``timeout`` per request, ``deadline`` for the whole pull."""

    def __init__(
        self,
        connection: Connection,
        *,
        timeout: float,
        deadline: float,
        environ: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.connection = connection
        self.base = connection.base_url.rstrip("/")
        self.timeout = timeout
        self.ends_at = time.monotonic() + deadline
        self.environ = os.environ if environ is None else environ
        self.http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            headers={"Accept": "application/fhir+json"},
            transport=transport,
        )
        self._token: str | None = None

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *exc) -> None:
        self.http.close()

    # ------------------------------------------------------------------------------------------ requests

    def _secret(self) -> str:
        name = self.connection.secret_env
        secret = self.environ.get(name, "") if name else ""
        if not secret:
            if not name:
                raise FhirError(
                    _(
                        "The secret of this site's FHIR connection is not set: the server has no environment variable "
                        "(none named). Ask the administrator to set it; nothing was pulled."
                    )
                )
            raise FhirError(
                _(
                    "The secret of this site's FHIR connection is not set: the server has no environment variable "
                    "%(name)s. Ask the administrator to set it; nothing was pulled."
                )
                % {"name": name}
            )
        return secret

    def _authorization(self) -> dict[str, str]:
        kind = self.connection.auth_kind
        if kind == "none":
            return {}
        if self._token is None:
            self._token = self._secret() if kind == "bearer" else self._client_credentials_token()
        return {"Authorization": f"Bearer {self._token}"}

    def _client_credentials_token(self) -> str:
        data = {
            "grant_type": "client_credentials",
            "client_id": self.connection.client_id,
            "client_secret": self._secret(),
        }
        response = self._send("POST", self.connection.token_url, what=_("the token request"), data=data)
        try:
            token = response.json().get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise FhirError(_("The token URL answered without an access token; check the client id and secret."))
        return token

    def _send(self, method: str, url: str, *, what: str, **kwargs) -> httpx.Response:
        remaining = self.ends_at - time.monotonic()
        if remaining <= 0:
            raise FhirError(
                _("The FHIR server took too long in total (%(what)s was not sent); nothing was saved.") % {"what": what}
            )
        timeout = httpx.Timeout(min(self.timeout, remaining))
        try:
            response = self.http.request(method, url, timeout=timeout, **kwargs)
        except httpx.TimeoutException:
            raise FhirError(
                _("The FHIR server did not answer %(what)s within %(seconds)s s; nothing was saved. Try again later.")
                % {"what": what, "seconds": formats.number_format(Decimal(f"{timeout.read:g}"))}
            ) from None
        except httpx.HTTPError as exc:
            raise FhirError(
                _("The FHIR server could not be reached (%(error)s); nothing was saved.")
                % {"error": _short(str(exc), 120)}
            ) from None
        if response.status_code >= 400:
            if response.text.strip():
                raise FhirError(
                    _("The FHIR server answered %(what)s with HTTP %(status)s: %(text)s; nothing was saved.")
                    % {"what": what, "status": response.status_code, "text": _short(response.text, 160)}
                )
            raise FhirError(
                _("The FHIR server answered %(what)s with HTTP %(status)s; nothing was saved.")
                % {"what": what, "status": response.status_code}
            )
        return response

    def _bundle(self, url: str, *, what: str, params: Sequence[tuple[str, str]] | None = None) -> Bundle:
        response = self._send("GET", url, what=what, params=params, headers=self._authorization())
        try:
            payload = response.json()
        except ValueError:
            raise FhirError(
                _("The FHIR server's answer to %(what)s is not JSON; nothing was saved.") % {"what": what}
            ) from None
        if not isinstance(payload, dict) or payload.get("resourceType") != "Bundle":
            raise FhirError(
                _("The FHIR server's answer to %(what)s is not a Bundle; nothing was saved.") % {"what": what}
            )
        try:
            return Bundle.model_validate(payload)
        except (pydantic.ValidationError, ValueError, TypeError) as exc:
            first = exc.errors()[0] if isinstance(exc, pydantic.ValidationError) and exc.errors() else None
            where = ".".join(str(p) for p in first["loc"]) + f": {first['msg']}" if first else _short(str(exc), 120)
            raise FhirError(
                _("The FHIR server's answer to %(what)s is not a valid FHIR R4 Bundle (%(where)s); nothing was saved.")
                % {"what": what, "where": _short(where, 160)}
            ) from None

    # ------------------------------------------------------------------------------------------- searches

    def search(self, resource_type: str, params: Sequence[tuple[str, str]]) -> list:
        """Every resource of ``resource_type`` the search finds, following the bundles' ``next`` links."""
        what = _("the %(resource)s search") % {"resource": resource_type}
        url, query, found = f"{self.base}/{resource_type}", list(params), []
        for _page in range(MAX_PAGES):
            bundle = self._bundle(url, what=what, params=query)
            found += [
                entry.resource
                for entry in bundle.entry or []
                if entry.resource is not None and entry.resource.get_resource_type() == resource_type
            ]
            following = next((link.url for link in bundle.link or [] if link.relation == "next"), None)
            if not following:
                return found
            if _origin(str(following)) != _origin(self.base):
                raise FhirError(
                    _("The FHIR server's next page of %(what)s is on another host; nothing was saved.") % {"what": what}
                )
            url, query = str(following), None
        raise FhirError(
            _("The FHIR server gave more than %(pages)s pages for %(what)s; nothing was saved.")
            % {"pages": MAX_PAGES, "what": what}
        )

    def patient_id(self, mrn: str, system: str = "") -> str:
        """The id of the one FHIR Patient with this medical record number."""
        identifier = f"{system}|{mrn}" if system else mrn
        patients = self.search("Patient", [("identifier", identifier)])
        ids = sorted({str(p.id) for p in patients if p.id})
        if not ids:
            raise FhirError(_("The FHIR server has no patient with this patient's medical record number."))
        if len(ids) > 1:
            raise FhirError(
                _(
                    "The FHIR server has %(count)s patients with this medical record number: give the identifier "
                    "system on the patient's link to tell them apart."
                )
                % {"count": len(ids)}
            )
        return ids[0]
