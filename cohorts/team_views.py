"""The study team page (cohorts/team.py): members, their roles and sites, and account help. Thin views."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cohorts import roles, selectors, team
from cohorts.team_forms import MemberForm, SitesForm


def _page(request, study, add_form=None, failed=None, status=200):
    """The team page; ``failed`` = (assignment or account pk, form) shows that row's refused form open."""
    assignments = list(team.members(study))
    states = team.account_states({a.user for a in assignments})
    opened = team.opened_stamps(assignments)
    for assignment in assignments:
        assignment.state = states[assignment.user_id]
        assignment.is_self = assignment.user_id == request.user.pk
        row_failed = failed is not None and failed[0] == assignment.pk
        assignment.sites_form = (
            failed[1]
            if row_failed
            else SitesForm(
                study=study,
                prefix=f"a{assignment.pk}",
                initial={
                    "all_sites": assignment.all_sites,
                    "sites": list(assignment.sites.all()),
                    "opened": opened.get(assignment.pk, 0),
                },
            )
        )
        assignment.open = row_failed
    return render(
        request,
        "cohorts/study_team.html",
        {
            "study": study,
            "assignments": assignments,
            "add_form": add_form or MemberForm(study=study, prefix="add"),
            "history": team.history(study),
            # A refusal on a row without a form (the user's own): shown above the table.
            "refusal": next((a.sites_form.non_field_errors() for a in assignments if a.open and a.is_self), None),
        },
        status=status,
    )


@roles.role_required(roles.TEAM_MANAGERS)
def study_team(request, study_code: str):
    study = selectors.study_get(user=request.user, code=study_code)
    if request.method != "POST":
        return _page(request, study)
    form = MemberForm(request.POST, study=study, prefix="add")
    if form.is_valid():
        data = form.cleaned_data
        try:
            user = team.find_user(data["user"])
            team.assignment_add(
                study=study,
                user=user,
                role=data["role"],
                all_sites=data["all_sites"],
                sites=data["sites"],
                acting=request.user,
                reason=data["reason"],
            )
        except ValidationError as error:
            form.place(error)
        else:
            messages.success(
                request,
                _("%(user)s is now %(role)s in %(study)s.")
                % {"user": user.username, "role": roles.ROLES[data["role"]].lower(), "study": study.code},
            )
            return redirect("study_team", study.code)
    return _page(request, study, add_form=form, status=400)


def _change_sites(*, assignment, data, acting):
    team.assignment_change(
        assignment=assignment,
        all_sites=data["all_sites"],
        sites=data["sites"],
        acting=acting,
        reason=data["reason"],
        opened=data["opened"],
    )
    return _("The sites of %(user)s (%(role)s) changed.") % {
        "user": assignment.user.username,
        "role": assignment.get_role_display().lower(),
    }


def _end(*, assignment, data, acting):
    team.assignment_end(assignment=assignment, acting=acting, reason=data["reason"])
    return _("The %(role)s role of %(user)s ended.") % {
        "role": assignment.get_role_display().lower(),
        "user": assignment.user.username,
    }


def _account(action):
    def run(*, assignment, data, acting):
        done = action(study=assignment.study, account=assignment.user, acting=acting, reason=data["reason"])
        return _("%(action)s: %(user)s.") % {"action": done.get_kind_display(), "user": assignment.user.username}

    return run


#: What a member's row does (the button's ``action``); every one takes the row's reason.
ROW_ACTIONS = {
    "sites": _change_sites,
    "end": _end,
    "unlock": _account(team.account_unlock),
    "reset_second_factor": _account(team.second_factor_reset),
}


@require_POST
@roles.role_required(roles.TEAM_MANAGERS)
def team_member(request, study_code: str, pk: int):
    """One member's row: change the sites, end the role, unlock the account or reset its second factor."""
    study = selectors.study_get(user=request.user, code=study_code)
    assignment = get_object_or_404(team.members(study), pk=pk)
    action = ROW_ACTIONS.get(request.POST.get("action"))
    if action is None:
        raise Http404("No such action.")
    form = SitesForm(request.POST, study=study, prefix=f"a{pk}")
    if form.is_valid():
        try:
            done = action(assignment=assignment, data=form.cleaned_data, acting=request.user)
        except ValidationError as error:
            form.place(error)
        else:
            messages.success(request, done)
            return redirect("study_team", study.code)
    return _page(request, study, failed=(assignment.pk, form), status=400)
