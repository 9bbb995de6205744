"""Values pulled from the hospital's FHIR R4 server (vital signs, laboratory), proposed for review (issue 20).

The package shares its name with the ``fhir`` namespace of fhir.resources (``fhir.resources.R4B``), which parses
the server's answers: extending ``__path__`` lets ``import fhir.resources`` find that library's subpackage in
site-packages while ``fhir.models``, ``fhir.pull`` ... are this app's modules.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
