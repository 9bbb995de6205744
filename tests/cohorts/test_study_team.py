"""The study team page (issue 14 item 3): a study's data managers give, change and end roles with a reason, see
each member's last login and second factor, unlock a locked-out account and reset a lost second factor."""

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from cohorts import roles
from cohorts.models import AccountAction, RoleAssignment
from cohorts.team import grant
from tests import factories


@pytest.fixture
def dm(client, users):
    client.force_login(users["data_manager"])
    return client


def team_url(study, suffix=""):
    return f"/studies/{study.code}/team/{suffix}"


def add(client, study, **values):
    body = {"add-user": "", "add-role": "nurse", "add-reason": "joins the ward team", **values}
    return client.post(team_url(study), body)


def errors(response, form="add_form") -> dict:
    return {name: " ".join(messages) for name, messages in response.context[form].errors.items()}


def test_a_data_manager_adds_a_nurse_at_one_site_and_the_nurse_sees_that_site(
    dm, client, study, site_a, site_b, patient_a, patient_b
):
    new = factories.UserFactory(username="giulia", email="giulia@example.org")
    response = add(dm, study, **{"add-user": "GIULIA@example.org", "add-sites": [site_b.pk]})
    assert response.status_code == 302
    assignment = RoleAssignment.objects.get(user=new, study=study)
    assert (assignment.role, assignment.all_sites, [s.code for s in assignment.sites.all()]) == ("nurse", False, ["BG"])
    history = assignment.history.get()
    assert "Study nurse given" in dm.get(team_url(study)).content.decode()
    assert (history.history_change_reason, history.history_user.username) == ("joins the ward team", "data_manager")
    assert [row.site.code for row in history.sites.all()] == ["BG"]  # the audit trail keeps the sites given
    client.force_login(new)
    assert client.get(f"/patients/{patient_b.pk}/").status_code == 200
    assert client.get(f"/patients/{patient_a.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"add-user": "nobody"}, "user", "No active account has the user name or e-mail “nobody”"),
        ({"add-user": "giulia", "add-reason": ""}, "reason", "Give a reason"),
        ({"add-user": "giulia"}, "sites", "Choose the sites, or every site."),
        ({"add-user": "giulia", "add-role": "admin", "add-all_sites": "on"}, "role", "Select a valid choice"),
        ({"add-user": "nurse", "add-all_sites": "on"}, "role", "nurse is already study nurse in this study"),
    ],
)
def test_the_add_form_refuses_with_the_message_next_to_the_field(dm, study, values, field, message):
    factories.UserFactory(username="giulia")
    before = RoleAssignment.objects.count()
    response = add(dm, study, **values)
    assert response.status_code == 400
    assert message in errors(response)[field]
    assert RoleAssignment.objects.count() == before


def test_a_missing_reason_and_missing_sites_are_named_together(dm, study):
    factories.UserFactory(username="giulia")
    response = add(dm, study, **{"add-user": "giulia", "add-reason": ""})
    assert errors(response) == {
        "reason": "Give a reason: team changes are audited.",
        "sites": "Choose the sites, or every site.",
    }
    assert not RoleAssignment.objects.filter(user__username="giulia").exists()


def test_a_site_outside_the_study_is_refused(users, study):
    from django.core.exceptions import ValidationError

    from cohorts import team

    elsewhere = factories.SiteFactory(code="LY", name="Lyon")
    with pytest.raises(ValidationError) as refused:
        team.assignment_add(
            study=study,
            user=factories.UserFactory(username="giulia"),
            role=roles.NURSE,
            sites=[elsewhere],
            acting=users["data_manager"],
            reason="joins",
        )
    assert refused.value.message_dict["sites"] == ["Site LY does not take part in the study milan-anakinra."]


def test_data_managers_and_statisticians_always_hold_every_site(dm, study, site_a):
    factories.UserFactory(username="stella2")
    assert (
        add(dm, study, **{"add-user": "stella2", "add-role": "statistician", "add-sites": [site_a.pk]}).status_code
        == 302
    )
    assert RoleAssignment.objects.get(user__username="stella2").all_sites is True


def test_change_the_sites_and_end_a_role_with_a_reason(dm, client, study, users, site_a, site_b, patient_b):
    nurse = RoleAssignment.objects.get(user=users["nurse"], study=study)
    response = dm.post(
        team_url(study, f"{nurse.pk}/"),
        {"action": "sites", f"a{nurse.pk}-sites": [site_a.pk, site_b.pk], f"a{nurse.pk}-reason": "covers Bergamo"},
    )
    assert response.status_code == 302
    assert sorted(s.code for s in nurse.sites.all()) == ["BG", "MI"]
    client.force_login(users["nurse"])
    assert client.get(f"/patients/{patient_b.pk}/").status_code == 200
    dm.force_login(users["data_manager"])
    response = dm.post(team_url(study, f"{nurse.pk}/"), {"action": "end", f"a{nurse.pk}-reason": ""})
    assert response.status_code == 400 and "Give a reason" in response.content.decode()
    assert dm.post(team_url(study, f"{nurse.pk}/"), {"action": "end", f"a{nurse.pk}-reason": "left"}).status_code == 302
    nurse.refresh_from_db()
    assert nurse.ended_at is not None
    assert [h.history_change_reason for h in nurse.history.order_by("history_date")][-2:] == ["covers Bergamo", "left"]
    client.force_login(users["nurse"])
    assert client.get(f"/studies/{study.code}/patients/").status_code == 404  # no role in the study any more
    dm.force_login(users["data_manager"])
    page = dm.get(team_url(study)).content.decode()
    assert "Study nurse ended" in page and "Study nurse sites changed" in page and "left" in page


def test_a_row_opened_before_another_change_of_its_sites_does_not_undo_it(dm, study, users, site_a, site_b):
    """Two data managers open the team page; one takes Bergamo away from the nurse. The other's row, posted with the
    sites it was opened with (Milan and Bergamo) plus nothing new, would give Bergamo back unseen: it is refused."""
    nurse = RoleAssignment.objects.get(user=users["nurse"], study=study)
    dm.post(
        team_url(study, f"{nurse.pk}/"),
        {"action": "sites", f"a{nurse.pk}-sites": [site_a.pk, site_b.pk], f"a{nurse.pk}-reason": "covers Bergamo"},
    )
    stale = dm.get(team_url(study)).context["assignments"]
    (row,) = [a for a in stale if a.pk == nurse.pk]
    opened = row.sites_form.initial["opened"]
    assert opened == nurse.history.latest("history_id").history_id
    body = {"action": "sites", f"a{nurse.pk}-opened": opened}
    first = {**body, f"a{nurse.pk}-sites": [site_a.pk], f"a{nurse.pk}-reason": "Bergamo has its own nurse"}
    assert dm.post(team_url(study, f"{nurse.pk}/"), first).status_code == 302
    second = {**body, f"a{nurse.pk}-sites": [site_a.pk, site_b.pk], f"a{nurse.pk}-reason": "night shifts"}
    response = dm.post(team_url(study, f"{nurse.pk}/"), second)
    assert response.status_code == 400
    assert (
        "This record was changed by someone else after you opened it. Reload the page, review their change, and enter "
        "yours again." in response.content.decode()
    )
    assert [s.code for s in nurse.sites.all()] == ["MI"]


def test_nobody_raises_their_own_rights_and_the_last_data_manager_stays(dm, study, users):
    own = RoleAssignment.objects.get(user=users["data_manager"], study=study)
    response = dm.post(team_url(study, f"{own.pk}/"), {"action": "end", f"a{own.pk}-reason": "leaving"})
    assert response.status_code == 400
    assert "You cannot change your own rights" in response.content.decode()
    dm.force_login(users["admin"])
    response = dm.post(team_url(study, f"{own.pk}/"), {"action": "end", f"a{own.pk}-reason": "leaving"})
    assert response.status_code == 400
    assert "This is the study&#x27;s last data manager" in response.content.decode()
    assert RoleAssignment.objects.get(pk=own.pk).ended_at is None
    dm.force_login(users["data_manager"])
    response = add(dm, study, **{"add-user": "data_manager", "add-role": "monitor", "add-all_sites": "on"})
    assert "You cannot change your own rights" in " ".join(response.context["add_form"].non_field_errors())
    # With a second data manager, the first one may go (ended by the other).
    second = factories.UserFactory(username="dm2")
    grant(second, study, roles.DATA_MANAGER, reason="test: second data manager")
    dm.force_login(second)
    assert dm.post(team_url(study, f"{own.pk}/"), {"action": "end", f"a{own.pk}-reason": "left"}).status_code == 302


def test_the_page_shows_last_login_second_factor_and_lockout_and_helps(dm, study, users):
    nurse = users["nurse"]
    TOTPDevice.objects.create(user=nurse, name="phone", confirmed=True)
    AccessAttempt.objects.create(
        username=nurse.username,
        ip_address="10.0.0.1",
        user_agent="test",
        failures_since_start=settings.AXES_FAILURE_LIMIT,
    )
    page = dm.get(team_url(study)).content.decode()
    assert "locked out" in page and "set up" in page and "never" in page
    assignment = RoleAssignment.objects.get(user=nurse, study=study)
    url = team_url(study, f"{assignment.pk}/")
    assert dm.post(url, {"action": "unlock", f"a{assignment.pk}-reason": "called the help desk"}).status_code == 302
    assert not AccessAttempt.objects.filter(username=nurse.username).exists()
    assert dm.post(url, {"action": "reset_second_factor", f"a{assignment.pk}-reason": "lost phone"}).status_code == 302
    assert not TOTPDevice.objects.filter(user=nurse).exists()
    actions = list(AccountAction.objects.values_list("kind", "reason", "done_by__username", "account__username"))
    assert actions == [
        ("reset_second_factor", "lost phone", "data_manager", "nurse"),
        ("unlock", "called the help desk", "data_manager", "nurse"),
    ]
    page = dm.get(team_url(study)).content.decode()
    assert "Second factor reset" in page and "Account unlocked" in page and "lost phone" in page


def test_a_locked_out_nurse_logs_in_again_once_unlocked(client, dm, study, users):
    users["nurse"].set_password("a-long-test-password-2")
    users["nurse"].save()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/accounts/login/", {"auth-username": "nurse", "auth-password": "wrong", "login_view-current_step": "auth"}
        )
    assert AccessAttempt.objects.filter(username="nurse").exists()
    assignment = RoleAssignment.objects.get(user=users["nurse"], study=study)
    dm.force_login(users["data_manager"])
    dm.post(team_url(study, f"{assignment.pk}/"), {"action": "unlock", f"a{assignment.pk}-reason": "identity checked"})
    dm.logout()
    response = dm.post(
        "/accounts/login/",
        {"auth-username": "nurse", "auth-password": "a-long-test-password-2", "login_view-current_step": "auth"},
    )
    assert response.status_code == 302


@pytest.mark.parametrize("role", ["nurse", "investigator", "monitor", "statistician"])
def test_only_the_studys_data_managers_manage_its_team(client, users, study, role):
    client.force_login(users[role])
    assert client.get(team_url(study)).status_code == 403
    other = factories.StudyFactory(code="paris-anakinra", title="Paris")
    dm_b = factories.UserFactory(username="dm_paris")
    grant(dm_b, other, roles.DATA_MANAGER, reason="test")
    client.force_login(dm_b)
    assert client.get(team_url(study)).status_code == 404
    assignment = RoleAssignment.objects.get(user=users["nurse"], study=study)
    assert client.post(team_url(study, f"{assignment.pk}/"), {"action": "end"}).status_code == 404


def test_create_study_names_its_first_data_manager_and_refuses_a_non_administrator(users, db):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="data_manager is not a system administrator"):
        call_command("create_study", "docs/study-new-york.toml", user="data_manager", data_manager=["nurse"])
    with pytest.raises(CommandError, match="Unknown user for --data-manager: ghost"):
        call_command("create_study", "docs/study-new-york.toml", data_manager=["ghost"])
    call_command("create_study", "docs/study-new-york.toml", user="admin", data_manager=["nurse"])
    made = RoleAssignment.objects.get(user=users["nurse"], role=roles.DATA_MANAGER)
    assert made.all_sites and made.history.get().history_user.username == "admin"


def test_import_crf_refuses_a_user_who_is_not_a_data_manager_of_the_study(users, study, tmp_path):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="investigator is not a data manager of the study milan-anakinra"):
        call_command("import_crf", str(tmp_path), study=study.code, user="investigator")


def test_the_administrators_group_adds_accounts_in_the_admin(client, users):
    """Accounts are made in the Django admin by the system administrators' group, then given roles on a team."""
    admin = users["admin"]
    admin.is_staff = True
    admin.save()
    client.force_login(admin)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/auth/user/").status_code == 200
    assert client.get("/admin/auth/user/add/").status_code == 200
    client.force_login(users["data_manager"])  # not staff: the team page is theirs, not the admin
    assert client.get("/admin/auth/user/").status_code == 302
