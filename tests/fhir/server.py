"""A small FHIR-like HTTP server for the tests: serves search bundles it builds from the resources a test gives it.

It answers ``Patient?identifier=``, ``Observation?patient=&category=&code=&date=ge..&date=lt..`` and
``MedicationAdministration?patient=&effective-time=..`` like a FHIR server (comma = OR, ``system|code`` tokens,
``ge``/``lt`` date prefixes), pages results ``page_size`` at a time with ``next`` links (``_getpages`` as HAPI
does, so the client must follow the link rather than repeat its query), and can misbehave on demand: answer
slowly, with HTTP 500, with a malformed bundle or with something that is not JSON. It can require a bearer token
and answer an OAuth2 client-credentials token request. Runs on 127.0.0.1 in a thread of the test process.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def quantity(value, unit: str, system: str = UCUM, comparator: str | None = None) -> dict:
    out = {"value": value, "unit": unit, "system": system, "code": unit}
    if comparator:
        out["comparator"] = comparator
    return out


def observation(
    rid: str,
    code: str,
    value=None,
    unit: str = "",
    *,
    when: str,
    category: str = "vital-signs",
    status: str = "final",
    patient: str = "p1",
    components: list[tuple[str, float, str]] | None = None,
    codes: tuple[str, ...] = (),
    updated: str = "2020-03-20T10:00:00Z",
    value_quantity: dict | None = None,
) -> dict:
    resource = {
        "resourceType": "Observation",
        "id": rid,
        "meta": {"lastUpdated": updated},
        "status": status,
        "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
        "code": {"coding": [{"system": LOINC, "code": c} for c in (code, *codes)]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when,
    }
    if value_quantity is not None:
        resource["valueQuantity"] = value_quantity
    elif value is not None:
        resource["valueQuantity"] = quantity(value, unit)
    if components:
        resource["component"] = [
            {"code": {"coding": [{"system": LOINC, "code": c}]}, "valueQuantity": quantity(v, u)}
            for c, v, u in components
        ]
    return resource


def medication(rid: str, text: str, dose: float, unit: str, *, when: str, patient: str = "p1") -> dict:
    return {
        "resourceType": "MedicationAdministration",
        "id": rid,
        "status": "completed",
        "medicationCodeableConcept": {"text": text},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when,
        "dosage": {"dose": {"value": dose, "unit": unit}, "route": {"text": "intravenous"}},
    }


def fhir_patient(rid: str, mrn: str, system: str = "urn:hospital:mrn") -> dict:
    return {"resourceType": "Patient", "id": rid, "identifier": [{"system": system, "value": mrn}]}


def _instant(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _tokens(values: list[str]) -> set[str]:
    return {token.strip() for value in values for token in value.split(",") if token.strip()}


def _codings(concept: dict) -> set[str]:
    return {f"{c.get('system', '')}|{c['code']}" for c in concept.get("coding", [])} | {
        c["code"] for c in concept.get("coding", [])
    }


def _dates_match(moment: str | None, tests: list[str]) -> bool:
    if moment is None:
        return not tests
    when = _instant(moment)
    for test in tests:
        prefix, bound = test[:2], _instant(test[2:])
        if (prefix == "ge" and not when >= bound) or (prefix == "lt" and not when < bound):
            return False
    return True


class FakeFhirServer:
    def __init__(self, page_size: int = 2):
        self.patients: list[dict] = []
        self.observations: list[dict] = []
        self.medications: list[dict] = []
        self.page_size = page_size
        self.mode: str | None = None  # "slow", "500", "malformed", "not_json"
        self.slow_seconds = 2.0
        self.bearer: str | None = None  # the token every search must carry
        self.client_secret: str | None = None  # the secret the token URL wants
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self._pages: dict[str, list[dict]] = {}
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/fhir"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> FakeFhirServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # ---------------------------------------------------------------------------------------------- search

    def _match(self, kind: str, query: dict[str, list[str]]) -> list[dict]:
        if kind == "Patient":
            wanted = _tokens(query.get("identifier", []))
            return [
                p
                for p in self.patients
                if any(i["value"] in wanted or f"{i['system']}|{i['value']}" in wanted for i in p["identifier"])
            ]
        patient = query.get("patient", [None])[0]
        pool = self.observations if kind == "Observation" else self.medications
        found = [r for r in pool if r["subject"]["reference"] in (f"Patient/{patient}", patient)]
        if kind == "Observation":
            if categories := _tokens(query.get("category", [])):
                found = [r for r in found if categories & set().union(*(_codings(c) for c in r["category"]))]
            if codes := _tokens(query.get("code", [])):
                found = [r for r in found if codes & _codings(r["code"])]
            return [r for r in found if _dates_match(r.get("effectiveDateTime"), query.get("date", []))]
        return [r for r in found if _dates_match(r.get("effectiveDateTime"), query.get("effective-time", []))]

    def _page(self, pages_id: str, offset: int, count: int) -> dict:
        results = self._pages[pages_id]
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(results),
            "link": [],
            "entry": [{"fullUrl": f"{self.url}/x/{r['id']}", "resource": r} for r in results[offset : offset + count]],
        }
        if offset + count < len(results):
            query = urlencode({"_getpages": pages_id, "_getpagesoffset": offset + count, "_count": count})
            bundle["link"].append({"relation": "next", "url": f"{self.url}?{query}"})
        return bundle

    def answer(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> tuple[int, bytes]:
        self.requests.append((path, query, headers))
        if self.mode == "slow":
            time.sleep(self.slow_seconds)
        if self.mode == "500":
            return 500, b'{"resourceType": "OperationOutcome", "issue": [{"severity": "fatal", "code": "exception"}]}'
        if self.mode == "not_json":
            return 200, b"<html>Service Unavailable</html>"
        if self.bearer is not None and headers.get("authorization") != f"Bearer {self.bearer}":
            return 401, b'{"resourceType": "OperationOutcome"}'
        if self.mode == "malformed":
            bad = {"resourceType": "Observation", "id": "broken", "status": "final"}  # no code: invalid
            bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": bad}]}
            return 200, json.dumps(bundle).encode()
        count = min(int(query.get("_count", [self.page_size])[0]), self.page_size)
        if "_getpages" in query:
            pages_id, offset = query["_getpages"][0], int(query["_getpagesoffset"][0])
        else:
            kind = path.rstrip("/").rsplit("/", 1)[-1]
            pages_id, offset = uuid.uuid4().hex, 0
            self._pages[pages_id] = self._match(kind, query)
        return 200, json.dumps(self._page(pages_id, offset, count)).encode()

    def token(self, form: dict[str, list[str]]) -> tuple[int, bytes]:
        self.requests.append(("token", form, {}))
        if form.get("grant_type") != ["client_credentials"] or form.get("client_secret") != [self.client_secret]:
            return 401, b'{"error": "invalid_client"}'
        return 200, json.dumps({"access_token": self.bearer, "token_type": "bearer", "expires_in": 300}).encode()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
                    self._send(*server.answer(parts.path, parse_qs(parts.query), headers))

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self._send(*server.token(parse_qs(self.rfile.read(length).decode())))

            def log_message(self, *args):  # quiet
                pass

        return Handler
