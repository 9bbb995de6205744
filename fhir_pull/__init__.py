"""Values pulled from the hospital's FHIR R4 server (vital signs, laboratory), proposed for review (issue 20).

The package is ``fhir_pull``, not ``fhir``: the top-level name ``fhir`` is fhir.resources' (``fhir.resources.R4B``,
which parses the server's answers). The Django app label stays ``fhir`` (apps.py), so its tables and migrations
are named ``fhir_*``.
"""
