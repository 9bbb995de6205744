import datetime

import factory
from django.contrib.auth import get_user_model

from cohorts.models import Arm, Patient, Site, Study


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("a-long-test-password")


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Study
        django_get_or_create = ("code",)

    code = "milan-anakinra"
    title = "Anakinra in COVID-19 ARDS (Milan cohort)"
    protocol = "milan_2020"
    follow_up_days = 21


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"S{n}")
    name = factory.Sequence(lambda n: f"Site {n}")

    @factory.post_generation
    def studies(self, create, extracted, **kwargs):
        if create and extracted:
            self.studies.add(*extracted)


class ArmFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Arm

    study = factory.SubFactory(StudyFactory)
    code = factory.Sequence(lambda n: f"arm{n}")
    name = factory.Sequence(lambda n: f"Arm {n}")


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    study = factory.SubFactory(StudyFactory)
    site = factory.SubFactory(SiteFactory)
    arm = factory.SubFactory(ArmFactory, study=factory.SelfAttribute("..study"))
    participant_id = factory.Sequence(lambda n: f"PT-{n:04d}")
    enrolment_date = datetime.date(2020, 3, 17)
    sex = "M"
    age_years = 62
    weight_kg = 80


def signed_casebook(patient: Patient, signer):
    """The patient's whole casebook as signed now by ``signer`` (its digest, no password asked): a signature that
    a later change of its data breaks."""
    from django.utils import timezone

    from cleaning import signatures
    from cleaning.models import SIGNATURE_MEANING, Signature

    first, last = signatures.whole_casebook(patient)
    return Signature.objects.create(
        study=patient.study,
        patient=patient,
        first_day=first,
        last_day=last,
        signer=signer,
        printed_name="Ivo Investigator",
        signed_at=timezone.now(),
        site_time_zone="Europe/Rome",
        signed_at_local="now",
        meaning=SIGNATURE_MEANING,
        data_sha256=signatures.casebook_digest(patient, first, last),
    )
