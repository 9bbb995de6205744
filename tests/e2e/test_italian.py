"""An Italian ward nurse's day (issue 21): the nurse chose Italian in the profile, the browser is English; the
pages, the limits' messages and the numbers are Italian, and what is stored is the same as in English."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import UserPreference
from ecrf.models import VitalSigns

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_an_italian_nurse_enters_a_day_and_reads_the_limits_in_italian(journey, study, site_a, arms, users, patient_a):
    UserPreference.objects.create(user=users["nurse"], language="it")
    page = journey.login("nurse")  # the login page follows the browser (English); the nurse's choice then wins
    expect(page.locator("html")).to_have_attribute("lang", "it")
    page.get_by_role("link", name="Pazienti e schede di oggi").click()
    page.get_by_role("link", name=patient_a.participant_id).first.click()
    page.goto(f"/patients/{patient_a.pk}/day/3/")
    expect(page.get_by_role("heading", name=re.compile("Giorno di studio 3"))).to_be_visible()
    vitals = {
        "Temperatura corporea": "45",
        "Frequenza cardiaca": "190",
        "Frequenza respiratoria": "24",
        "SpO2": "92",
    }
    for label, value in vitals.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Salva il giorno 3").click()

    # The hard limit refuses the value, in Italian, next to the field.
    expect(page.get_by_test_id("not-saved")).to_be_visible()
    temperature = page.locator("#div_id_vital_signs-temperature_c")
    expect(temperature).to_contain_text("valore non plausibile, superiore al massimo plausibile di 44")
    journey.shot(page, "limite-invalicabile")
    assert not VitalSigns.objects.exists()

    # A decimal comma; the soft limit asks for confirmation, in Italian.
    page.get_by_label("Temperatura corporea", exact=True).fill("37,8")
    page.get_by_role("button", name="Salva il giorno 3").click()
    heart_rate = page.locator("#div_id_vital_signs-heart_rate_bpm")
    expect(heart_rate).to_contain_text("valore insolito, superiore a 180")
    expect(heart_rate).to_contain_text("se il valore è corretto, spuntare 'Conferma'.")
    confirm = page.get_by_label("Conferma: il valore è corretto")
    expect(confirm).to_have_count(1)
    journey.shot(page, "limite-di-attenzione")
    confirm.check()
    page.get_by_role("button", name="Salva il giorno 3").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Giorno di studio 3 di {patient_a.participant_id} salvato.")

    # Stored as in English: the number, the confirmed check's code.
    vitals_row = VitalSigns.objects.get()
    assert (str(vitals_row.temperature_c), vitals_row.heart_rate_bpm) == ("37.8", 190)
    assert vitals_row.confirmed_checks == ["heart_rate_bpm.soft_high"]

    # Shown again with the decimal comma.
    page.goto(f"/patients/{patient_a.pk}/day/3/")
    expect(page.get_by_label("Temperatura corporea", exact=True)).to_have_value("37,8")
    journey.shot(page, "giorno-salvato")
