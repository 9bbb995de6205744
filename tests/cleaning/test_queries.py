"""Queries: a monitor asks the site about a value, the nurse corrects it through the normal form with its reason
and answers, the monitor closes; who may do what, what is refused and why, what the pages show."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from cleaning import selectors, services
from cleaning.models import MessageKind, Query, QueryStatus
from cohorts.models import Study
from ecrf.models import VitalSigns
from tests.ecrf.test_entry_helpers import day_post, day_url

VITALS = {"temperature_c": "41.9", "heart_rate_bpm": "96", "spo2_pct": "92"}


@pytest.fixture
def vitals(patient_a, users, django_capture_on_commit_callbacks):
    record = VitalSigns(patient=patient_a, study_day=3, temperature_c="41.9", heart_rate_bpm=96, spo2_pct=92)
    record._history_user, record._change_reason = users["nurse"], "initial entry"
    with django_capture_on_commit_callbacks(execute=True):  # as after the commit of its own request
        record.save()
    return record


@pytest.fixture
def query(vitals, patient_a, users):
    return services.query_open(
        patient=patient_a,
        study_day=3,
        form="vital_signs",
        field="temperature_c",
        text="Temperature 41.9 °C: please check against the chart.",
        user=users["monitor"],
    )


def _codes(excinfo) -> dict:
    return {name: [e.code for e in errors] for name, errors in excinfo.value.error_dict.items()}


def test_raising_records_the_value_the_question_and_a_history_row(query, users):
    assert (query.status, query.value_at_open, query.opened_by) == ("open", "41.9", users["monitor"])
    assert [(m.kind, m.author) for m in query.messages.all()] == [(MessageKind.OPENED, users["monitor"])]
    assert query.history.get().history_change_reason == "query raised"


@pytest.mark.parametrize(
    ("target", "field", "code"),
    [
        ({"form": "vital_signs", "field": "weight"}, "field", "unknown_field"),
        ({"form": "blood_gas", "field": ""}, "form", "unknown_form"),
        ({"form": "", "field": "spo2_pct"}, "field", "field_needs_form"),
        ({"form": "vital_signs", "field": "", "study_day": None}, "study_day", "day_required"),
        ({"form": "vital_signs", "field": "", "study_day": 40}, "study_day", "day_outside_follow_up"),
        ({"form": "adverse_events", "field": "kind", "record_id": 99999}, "form", "unknown_record"),
        ({"form": "vital_signs", "field": "", "text": "   "}, "text", "text_required"),
    ],
)
def test_a_query_about_nothing_is_refused_next_to_the_field(patient_a, users, target, field, code):
    kwargs = {"study_day": 3, "text": "Why?", **target}
    with pytest.raises(ValidationError) as excinfo:
        services.query_open(patient=patient_a, user=users["monitor"], **kwargs)
    assert _codes(excinfo) == {field: [code]}
    assert not Query.objects.exists()


def test_a_wrong_day_and_a_wrong_field_are_refused_together_on_the_page(client, patient_a, users):
    """Both said at once, each next to its field: corrected one at a time, the monitor would post twice."""
    client.force_login(users["monitor"])
    body = {"study_day": "99", "form": "vital_signs", "field": "organism", "assignee": "", "text": "Is this right?"}
    response = client.post(f"/patients/{patient_a.pk}/queries/new/", body)
    errors = {name: [e.code for e in items.as_data()] for name, items in response.context["form"].errors.items()}
    assert errors == {"study_day": ["day_outside_follow_up"], "field": ["unknown_field"]}
    assert not Query.objects.exists()


def test_the_message_names_the_missing_field(patient_a, users):
    with pytest.raises(ValidationError, match="The form Vital signs has no field 'weight'"):
        services.query_open(
            patient=patient_a, study_day=3, form="vital_signs", field="weight", text="?", user=users["monitor"]
        )


def test_a_nurse_cannot_raise_nor_close_and_a_monitor_cannot_answer(query, patient_a, users):
    with pytest.raises(PermissionDenied):
        services.query_open(patient=patient_a, study_day=3, form="", text="?", user=users["nurse"])
    with pytest.raises(PermissionDenied):
        services.query_close(query=query, text="fine", user=users["nurse"])
    with pytest.raises(PermissionDenied):
        services.query_answer(query=query, answer_code="confirmed_source", text="ok", user=users["monitor"])
    query.refresh_from_db()
    assert query.status == QueryStatus.OPEN


def test_the_assignee_must_enter_data_at_the_site(patient_a, users):
    with pytest.raises(ValidationError) as excinfo:
        services.query_open(
            patient=patient_a, study_day=3, form="", text="?", user=users["monitor"], assignee=users["nurse_b"]
        )
    assert _codes(excinfo) == {"assignee": ["assignee_not_site_staff"]}
    query = services.query_open(
        patient=patient_a, study_day=3, form="", text="?", user=users["monitor"], assignee=users["nurse"]
    )
    assert query.assignee == users["nurse"]


def test_corrected_needs_a_saved_change_then_the_thread_shows_it(
    client, query, vitals, patient_a, users, django_capture_on_commit_callbacks
):
    with pytest.raises(ValidationError) as excinfo:
        services.query_answer(query=query, answer_code="corrected", text="fixed", user=users["nurse"])
    assert _codes(excinfo) == {"answer_code": ["correction_not_saved"]}

    client.force_login(users["nurse"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            day_url(patient_a, 3),
            day_post(vitals={**VITALS, "temperature_c": "37.9"}, versions={"vitals": 1}, reason="chart says 37.9"),
        )
    assert response.status_code == 302
    changed = query.messages.get(kind=MessageKind.DATA_CHANGED)
    assert changed.author == users["nurse"]
    assert changed.text == "temperature (°C): 41.9 -> 37.9 (reason: chart says 37.9)"
    assert (changed.history_model, changed.history_record) == ("ecrf.vitalsigns", vitals.pk)

    services.query_answer(query=query, answer_code="corrected", text="typo, 37.9 in the chart", user=users["nurse"])
    query.refresh_from_db()
    assert (query.status, query.answer_code) == (QueryStatus.ANSWERED, "corrected")


def test_a_change_of_another_field_does_not_answer_a_field_query(
    client, query, patient_a, users, django_capture_on_commit_callbacks
):
    client.force_login(users["nurse"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            day_url(patient_a, 3),
            day_post(vitals={**VITALS, "heart_rate_bpm": "97"}, versions={"vitals": 1}, reason="recount"),
        )
    assert not query.messages.filter(kind=MessageKind.DATA_CHANGED).exists()


def test_closing_needs_a_message_and_a_closed_query_cannot_be_answered(query, users):
    with pytest.raises(ValidationError) as excinfo:
        services.query_close(query=query, text="", user=users["monitor"])
    assert _codes(excinfo) == {"text": ["text_required"]}
    services.query_close(query=query, text="Checked on site: fever was real.", user=users["monitor"])
    with pytest.raises(ValidationError, match="This query is closed; it cannot be answered"):
        services.query_answer(query=query, answer_code="confirmed_source", text="ok", user=users["nurse"])
    with pytest.raises(ValidationError, match="already closed"):
        services.query_close(query=query, text="again", user=users["data_manager"])


def test_reopen_by_a_monitor_clears_the_answer(query, users):
    services.query_answer(query=query, answer_code="confirmed_source", text="chart: 41.9", user=users["nurse"])
    services.query_close(query=query, text="ok", user=users["monitor"])
    with pytest.raises(PermissionDenied):
        services.query_reopen(query=query, text="no", user=users["nurse"])
    services.query_reopen(query=query, text="The chart shows 39.1", user=users["data_manager"])
    query.refresh_from_db()
    assert (query.status, query.answer_code, query.closed_at) == (QueryStatus.OPEN, "", None)
    kinds = list(query.messages.values_list("kind", flat=True))
    assert kinds == ["opened", "answered", "closed", "reopened"]
    # Every transition is a history row with its reason.
    assert list(query.history.order_by("history_id").values_list("history_change_reason", flat=True)) == [
        "query raised",
        "answered: Value confirmed against source",
        "closed",
        "reopened",
    ]


def test_data_changed_after_close_is_flagged_and_shown(
    client, query, patient_a, users, django_capture_on_commit_callbacks
):
    services.query_answer(query=query, answer_code="confirmed_source", text="chart: 41.9", user=users["nurse"])
    services.query_close(query=query, text="ok", user=users["monitor"])
    client.force_login(users["nurse"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            day_url(patient_a, 3),
            day_post(vitals={**VITALS, "temperature_c": "38.2"}, versions={"vitals": 1}, reason="late correction"),
        )
    query.refresh_from_db()
    assert query.changed_after_close and query.status == QueryStatus.CLOSED
    client.force_login(users["monitor"])
    page = client.get(f"/queries/{query.pk}/").content.decode()
    assert 'data-testid="changed-after-close"' in page and "late correction" in page
    listed = client.get(f"/studies/{patient_a.study.code}/queries/?status=changed")
    assert [q.pk for q in listed.context["page"].object_list] == [query.pk]


def test_a_locked_study_refuses_queries(query, patient_a, users):
    Study.objects.filter(pk=patient_a.study_id).update(is_locked=True)
    with pytest.raises(ValidationError, match="locked"):
        services.query_open(patient=patient_a, study_day=3, form="", text="?", user=users["monitor"])
    with pytest.raises(ValidationError, match="locked"):
        services.query_answer(query=query, answer_code="other", text="?", user=users["nurse"])


# ------------------------------------------------------------------------------------------------- pages


def test_the_field_list_of_a_new_query_keeps_the_labels_capitals(client, patient_a, users):
    """'PaO2 (mmHg)', not str.capitalize's 'Pao2 (mmhg)'."""
    client.force_login(users["monitor"])
    form = client.get(f"/patients/{patient_a.pk}/queries/new/").context["form"]
    laboratory = dict(dict(form.fields["field"].choices)["Laboratory"])
    assert (laboratory["pao2_mmhg"], laboratory["crp_mg_l"]) == ("PaO2 (mmHg)", "CRP (mg/L)")


@pytest.mark.parametrize("day", ["-2", "99999999999"])
def test_the_page_names_the_follow_up_for_a_day_outside_it_however_far(client, patient_a, users, day):
    """Not the storage column's bounds ("less than or equal to 32767"): the days a query may be about."""
    client.force_login(users["monitor"])
    response = client.post(
        f"/patients/{patient_a.pk}/queries/new/", {"study_day": day, "form": "laboratory", "text": "which day?"}
    )
    assert response.context["form"].errors["study_day"] == [f"Study day {day} is outside the follow-up of 0 to 21."]
    assert not Query.objects.exists()


def test_monitor_raises_from_the_page_and_the_nurse_sees_the_badges(client, vitals, patient_a, users):
    client.force_login(users["monitor"])
    day_page = client.get(day_url(patient_a, 3)).content.decode()
    assert 'data-testid="raise-query"' in day_page
    response = client.post(
        f"/patients/{patient_a.pk}/queries/new/",
        {"study_day": "3", "form": "vital_signs", "field": "temperature_c", "text": "41.9 °C?"},
    )
    query = Query.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/queries/{query.pk}/"

    client.force_login(users["nurse"])
    day_page = client.get(day_url(patient_a, 3))
    help_text = str(day_page.context["forms"]["vital_signs"].fields["temperature_c"].help_text)
    assert f'href="/queries/{query.pk}/"' in help_text and "query open" in help_text
    casebook = client.get(f"/patients/{patient_a.pk}/")
    (day3,) = [d for d in casebook.context["book"].days if d.study_day == 3]
    assert [n.label for n in day3.notes["vital_signs"]] == ["query open"]
    patients = client.get(f"/studies/{patient_a.study.code}/patients/")
    (row,) = [p for p in patients.context["patients"] if p.pk == patient_a.pk]
    assert [(n.label, n.title) for n in row.notes] == [("1 query", "1 open, 0 answered")]


def test_the_page_refuses_next_to_the_field(client, patient_a, users):
    client.force_login(users["monitor"])
    response = client.post(
        f"/patients/{patient_a.pk}/queries/new/",
        {"study_day": "3", "form": "vital_signs", "field": "crp_mg_l", "text": "?"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {"field": ["The form Vital signs has no field 'crp_mg_l'."]}


def test_nurse_answers_on_the_page_and_cannot_close(client, query, users):
    client.force_login(users["nurse"])
    page = client.get(f"/queries/{query.pk}/")
    assert set(page.context["forms"]) == {"answer", "comment"}
    response = client.post(f"/queries/{query.pk}/", {"action": "close", "close-text": "done"})
    assert response.status_code == 403
    response = client.post(
        f"/queries/{query.pk}/", {"action": "answer", "answer-answer_code": "corrected", "answer-text": "fixed"}
    )
    assert response.status_code == 200
    assert response.context["forms"]["answer"].errors["answer_code"][0].startswith("No change of these data")
    response = client.post(
        f"/queries/{query.pk}/",
        {"action": "answer", "answer-answer_code": "confirmed_source", "answer-text": "41.9 in the chart"},
    )
    assert response.status_code == 302
    client.force_login(users["monitor"])
    assert set(client.get(f"/queries/{query.pk}/").context["forms"]) == {"comment", "close"}
    response = client.post(f"/queries/{query.pk}/", {"action": "close", "close-text": ""})
    assert response.context["forms"]["close"].errors == {"text": ["Write a message: why the query is closed."]}


def test_the_median_days_to_close_is_the_middle_of_the_closed_queries(patient_a, users):
    """Four closed queries that took 1, 2, 5 and 10 days: the median is 3.5 days (the mean of the two middle ones),
    on PostgreSQL (computed by the database) as on SQLite; open queries do not count."""
    now = timezone.now()
    for days in (10, 1, 5, 2, 30):
        query = services.query_open(
            patient=patient_a, study_day=1, form="", text="Consent date?", user=users["monitor"]
        )
        Query.objects.filter(pk=query.pk).update(opened_at=now - datetime.timedelta(days=days))
        if days != 30:  # still open
            services.query_close(query=query, text="ok", user=users["monitor"])
    Query.objects.filter(status="closed").update(closed_at=now)
    assert selectors.query_metrics(user=users["monitor"], study=patient_a.study).median_days_to_close == 3.5


def test_another_sites_query_is_a_404(client, query, users):
    client.force_login(users["nurse_b"])
    assert client.get(f"/queries/{query.pk}/").status_code == 404
    assert client.post(f"/queries/{query.pk}/", {"action": "answer"}).status_code == 404
    listed = client.get(f"/studies/{query.study.code}/queries/")
    assert list(listed.context["page"].object_list) == []


def test_list_filters_and_metrics(client, query, patient_a, patient_b, users):
    other = services.query_open(
        patient=patient_b, study_day=1, form="", text="Consent date?", user=users["data_manager"]
    )
    Query.objects.filter(pk=other.pk).update(opened_at=timezone.now() - datetime.timedelta(days=4))
    services.query_close(query=other, text="ok", user=users["data_manager"])
    client.force_login(users["data_manager"])
    url = f"/studies/{patient_a.study.code}/queries/"
    response = client.get(url)
    assert {q.pk for q in response.context["page"].object_list} == {query.pk, other.pk}
    metrics = response.context["metrics"]
    assert sorted(metrics.by_site, key=lambda row: row["site"] != patient_a.site.code) == [
        {"site": patient_a.site.code, "open": 1, "answered": 0, "closed": 0},
        {"site": patient_b.site.code, "open": 0, "answered": 0, "closed": 1},
    ]
    assert metrics.median_days_to_close == 4.0
    assert [q.pk for q in client.get(url + "?status=open").context["page"].object_list] == [query.pk]
    assert [q.pk for q in client.get(url + f"?site={patient_b.site.code}").context["page"].object_list] == [other.pk]
    assert [q.pk for q in client.get(url + "?form=vital_signs&day=3").context["page"].object_list] == [query.pk]
    # Junk in the address is no filter, never a server error.
    assert client.get(url + "?day=abc&status=%00").status_code == 200


def test_a_query_carries_its_patients_site_however_it_is_raised(query, patient_a, patient_b, users):
    """The list, its counts and the scoping read a query's own site: a manual query, a rule's (bulk-written) and
    one made by hand through the model all get their patient's."""
    from cleaning import rule_job

    rule_job.run_study(patient_a.study)
    other = Query.objects.create(
        study=patient_b.study, patient=patient_b, form="", text="Consent date?", opened_at=timezone.now()
    )
    raised = Query.objects.select_related("patient")
    assert {q.origin for q in raised} == {"manual", "rule"} and other.site == patient_b.site
    assert [(q.pk, q.site_id) for q in raised] == [(q.pk, q.patient.site_id) for q in raised]


def test_the_list_counts_the_queries_of_the_sites_without_reading_the_patients(client, query, users):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(users["nurse"])
    with CaptureQueriesContext(connection) as context:
        assert client.get(f"/studies/{query.study.code}/queries/").status_code == 200
    reads = [q["sql"] for q in context.captured_queries if 'FROM "cleaning_query"' in q["sql"]]
    # The page, the counts per site and status (which count its pages too), the closed queries' median.
    assert len(reads) == 3
    assert [sql for sql in reads if "cohorts_patient" in sql and "COUNT(" in sql] == []
    assert 'ORDER BY "cleaning_query"."opened_at" DESC' in next(sql for sql in reads if "LIMIT" in sql)
    with CaptureQueriesContext(connection) as context:
        assert client.get(f"/studies/{query.study.code}/queries/?status=open").status_code == 200
    reads = [q["sql"] for q in context.captured_queries if 'FROM "cleaning_query"' in q["sql"]]
    assert len(reads) == 4  # filtered: the page's own count too


def test_the_pages_of_the_list_without_filters_are_counted_from_its_figures(client, patient_a, patient_b, users):
    """51 queries at two sites: two pages of 50, the second with the oldest query; filtered, the count follows."""
    for number in range(51):
        patient = patient_a if number % 2 else patient_b
        services.query_open(
            patient=patient, study_day=1, form="", text=f"Question {number}", user=users["data_manager"]
        )
    client.force_login(users["data_manager"])
    url = f"/studies/{patient_a.study.code}/queries/"
    first = client.get(url)
    assert first.context["page"].paginator.num_pages == 2
    assert "Page 1 of 2" in first.content.decode()
    second = client.get(url + "?page=2")
    assert [q.text for q in second.context["page"].object_list] == ["Question 0"]
    assert client.get(url + f"?site={patient_a.site.code}").context["page"].paginator.num_pages == 1


@pytest.mark.parametrize(
    ("field", "label", "typed", "message"),
    [
        ("day", "Day", "3x", "Enter a whole number."),
        ("day", "Day", "99999", "Ensure this value is less than or equal to 32767."),
        ("patient", "Participant", "MI-" + "0" * 60, "Ensure this value has at most 40 characters"),
        ("origin", "Origin", "robot", "Select a valid choice."),
    ],
)
def test_a_filter_typed_wrong_is_named_and_marked_and_the_other_filters_still_apply(
    client, patient_a, users, field, label, typed, message
):
    """Day 3 has an open and a closed query, day 4 an open one: the status chosen with a wrong day (or participant,
    or origin) still filters, and the wrong field says why it filters nothing."""
    opened = [
        services.query_open(patient=patient_a, study_day=day, form="", text=f"Day {day}?", user=users["data_manager"])
        for day in (3, 3, 4)
    ]
    services.query_close(query=opened[1], text="fine", user=users["data_manager"])
    client.force_login(users["data_manager"])
    response = client.get(f"/studies/{patient_a.study.code}/queries/", {"status": "open", field: typed})
    assert response.status_code == 200
    assert sorted(q.pk for q in response.context["page"].object_list) == [opened[0].pk, opened[2].pk]
    page = response.content.decode()
    (error,) = [part.split("</div>")[0] for part in page.split('data-testid="filter-error">')[1:]]
    assert error.startswith(f"{label}: ") and message in error and error.endswith("Not applied.")
    # The field itself is marked.
    (field_html,) = [tag for tag in page.split("<") if f'name="{field}"' in tag and tag.startswith(("input", "select"))]
    assert "is-invalid" in field_html


def test_days_open_counts_to_the_close(query):
    query.opened_at = timezone.now() - datetime.timedelta(days=3, hours=1)
    assert selectors.days_open(query) == 3


@pytest.mark.parametrize("action", ["answer", "comment", "close", "reopen"])
@pytest.mark.parametrize("garbage", ["", "\x00", "x" * 10_000, "corrected\x00", "<script>x</script>"])
def test_garbage_actions_change_nothing(client, query, users, action, garbage):
    client.force_login(users["data_manager"])  # may do every action
    before = (Query.history.count(), query.messages.count())
    response = client.post(
        f"/queries/{query.pk}/", {"action": action, f"{action}-text": garbage, f"{action}-answer_code": garbage}
    )
    assert response.status_code < 500
    if garbage.strip() and "\x00" not in garbage and len(garbage) < 2000 and action in ("comment", "close"):
        return  # a valid message
    assert (Query.history.count(), query.messages.count()) == before


def test_a_query_on_a_repeating_record_links_back_to_it(client, patient_a, users):
    from ecrf.models import AdverseEvent

    event = AdverseEvent.objects.create(patient=patient_a, study_day=2, kind="other", description="rash")
    client.force_login(users["monitor"])
    page = client.get(f"/patients/{patient_a.pk}/adverse-events/{event.pk}/").content.decode()
    link = f"/patients/{patient_a.pk}/queries/new/?day=2&amp;form=adverse_events&amp;record={event.pk}"
    assert link in page
    response = client.post(
        f"/patients/{patient_a.pk}/queries/new/",
        {"study_day": "2", "form": "adverse_events", "field": "description", "record_id": event.pk, "text": "Which?"},
    )
    query = Query.objects.get()
    assert response["Location"] == f"/queries/{query.pk}/" and query.record_id == event.pk
    detail = client.get(f"/queries/{query.pk}/")
    assert detail.context["entry_url"] == f"/patients/{patient_a.pk}/adverse-events/{event.pk}/"
    client.force_login(users["nurse"])
    event_page = client.get(f"/patients/{patient_a.pk}/adverse-events/{event.pk}/")
    assert "query open" in str(event_page.context["form"].fields["description"].help_text)


def test_a_missing_data_code_given_to_the_field_joins_the_thread(
    query, vitals, patient_a, users, django_capture_on_commit_callbacks
):
    from ecrf import services as ecrf_services
    from ecrf.services import RecordInput

    with django_capture_on_commit_callbacks(execute=True):
        ecrf_services.day_record_save(
            form="vital_signs",
            patient=patient_a,
            study_day=3,
            entry=RecordInput(
                {"temperature_c": None, "heart_rate_bpm": 96, "spo2_pct": 92},
                missing_codes={"temperature_c": "unknown"},
                expected_version=1,
            ),
            user=users["nurse"],
            reason="thermometer reading lost",
        )
    changed = query.messages.get(kind=MessageKind.DATA_CHANGED)
    assert "temperature (°C): 41.9 -> empty" in changed.text
    assert "missing-data code of temperature (°C): none -> unknown" in changed.text
