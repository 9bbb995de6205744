"""The demo studies of `make demo`: the Milan cohort protocol, its three arms, at two sites."""

from django.db import transaction

from cohorts.models import Arm, Protocol, Site, Study
from ecrf import derivation_job

MILAN_ARMS = [
    {
        "code": "standard",
        "name": "Standard treatment",
        "regimen_description": "Hydroxychloroquine 200 mg BID oral + lopinavir/ritonavir 400/100 mg BID oral; "
        "CPAP with PEEP 10 cmH2O.",
        "regimen": [
            {"drug": "hydroxychloroquine", "dose": 200, "unit": "mg", "route": "oral", "frequency": "bid"},
            {"drug": "lopinavir_ritonavir", "dose": 400, "unit": "mg", "route": "oral", "frequency": "bid"},
        ],
    },
    {
        "code": "low_dose",
        "name": "Low-dose anakinra",
        "regimen_description": "Anakinra 100 mg BID subcutaneous on top of standard treatment.",
        "regimen": [{"drug": "anakinra", "dose": 100, "unit": "mg", "route": "sc", "frequency": "bid"}],
    },
    {
        "code": "high_dose",
        "name": "High-dose anakinra",
        "regimen_description": "Anakinra 5 mg/kg BID intravenous (10 mg/kg/day, infused over 1 h) on top of "
        "standard treatment, until sustained clinical benefit; then 100 mg BID subcutaneous for 3 days.",
        "regimen": [{"drug": "anakinra", "dose": 5, "unit": "mg/kg", "route": "iv", "frequency": "bid"}],
    },
]

DEMO_SITES = [("MI", "Milan, San Raffaele Hospital"), ("BG", "Bergamo, Papa Giovanni XXIII")]


@transaction.atomic
def create_milan_study() -> Study:
    """The Milan study of 2020 that the seeded cohort (demo/milan_cohort.py) fills."""
    study, _ = Study.objects.get_or_create(
        code="milan-anakinra",
        defaults={
            "title": "Anakinra for COVID-19 ARDS with hyperinflammation (Milan cohort)",
            "protocol": Protocol.MILAN_2020,
            "registry_id": "NCT04318366",
            "follow_up_days": 21,
        },
    )
    for order, arm in enumerate(MILAN_ARMS, start=1):
        Arm.objects.get_or_create(study=study, code=arm["code"], defaults={**arm, "order": order})
    for code, name in DEMO_SITES:
        site, _ = Site.objects.get_or_create(code=code, defaults={"name": name})
        site.studies.add(study)
    return study


def derive_demo_study(study: Study) -> str:
    """Compute the derived patient-day table (SPEC 3) of the demo study; returns a line for the command's output."""
    summary = derivation_job.derive_all([study])
    if summary.skipped_locked:
        return "Derived data: not recomputed, the demo study is locked."
    return f"Derived data: {summary.rows} patient-days of {summary.patients} patients."
