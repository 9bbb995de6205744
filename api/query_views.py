"""The queries in the REST API (docs/api.md): list a study's queries, raise one on a patient, read one with its
thread, answer, comment, close or reopen it, through the same selectors and services as the query pages
(cleaning/). Who may do what is the services' (cohorts.roles.QUERY_*); refusals are problems (422, 403, 409)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework import status
from rest_framework.response import Response

from api import serializers as s
from api.problems import Problem
from api.views import PATIENT_PK, READ_ERRORS, SOURCE, STUDY_CODE, WRITE_ERRORS, ApiView
from cleaning import selectors, services
from cleaning.models import Query, QueryMessage, QueryOrigin, QueryStatus
from cohorts import roles
from cohorts import selectors as cohort_selectors
from ecrf import selectors as ecrf_selectors

QUERY_PK = OpenApiParameter("pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="The query's id.")


class QueryFilter(drf_serializers.Serializer):
    status = drf_serializers.ChoiceField(choices=QueryStatus.choices, required=False)
    origin = drf_serializers.ChoiceField(choices=QueryOrigin.choices, required=False)
    form = drf_serializers.CharField(required=False, max_length=32)
    site = drf_serializers.CharField(required=False, max_length=8, help_text="A site code.")
    participant_id = drf_serializers.CharField(required=False, max_length=40)
    updated_since = drf_serializers.DateTimeField(
        required=False, help_text="ISO 8601 date-time: only queries raised, changed or given a message since."
    )


def _query_list(user, study, data: dict):
    filters = selectors.QueryFilters(
        site=data.get("site", ""),
        status=data.get("status", ""),
        origin=data.get("origin", ""),
        form=data.get("form", ""),
        patient=data.get("participant_id", ""),
    )
    queries = selectors.query_list(user=user, study=study, filters=filters).order_by("pk")
    if (since := data.get("updated_since")) is not None:
        changed = Query.history.filter(history_date__gte=since).values("id")
        talked = QueryMessage.objects.filter(created_at__gte=since).values("query")
        queries = queries.filter(Q(pk__in=changed) | Q(pk__in=talked))
    return queries


@extend_schema(tags=["queries"])
class StudyQueryList(ApiView):
    """The study's queries at the user's sites, oldest first."""

    read_roles = roles.PATIENT_READERS
    serializer_class = s.QuerySerializer

    @extend_schema(parameters=[STUDY_CODE, QueryFilter], responses={200: s.QuerySerializer(many=True), **READ_ERRORS})
    def get(self, request, study_code: str):
        study = cohort_selectors.study_get(user=request.user, code=study_code)
        query = QueryFilter(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = self.paginate_queryset(_query_list(request.user, study, query.validated_data))
        return self.get_paginated_response(s.QuerySerializer(page, many=True).data)


def _assignee(username: str):
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise Problem(
            422,
            _("The data were refused; see errors."),
            errors={
                "assignee": [{"code": "unknown_user", "message": _("No user %(username)s.") % {"username": username}}]
            },
        )
    return user


@extend_schema(tags=["queries"])
class PatientQueryList(ApiView):
    """A patient's queries (GET), or a new query on the patient's data (POST: monitors, data managers and
    investigators at the patient's site)."""

    read_roles = roles.PATIENT_READERS
    write_roles = roles.QUERY_RAISERS
    serializer_class = s.QuerySerializer

    @extend_schema(parameters=[PATIENT_PK], responses={200: s.QuerySerializer(many=True), **READ_ERRORS})
    def get(self, request, patient_pk: int):
        patient = ecrf_selectors.patient_get(user=request.user, pk=patient_pk)
        queries = selectors.query_list(
            user=request.user, study=patient.study, filters=selectors.QueryFilters(patient=patient.participant_id)
        ).order_by("pk")
        page = self.paginate_queryset(queries)
        return self.get_paginated_response(s.QuerySerializer(page, many=True).data)

    @extend_schema(
        parameters=[PATIENT_PK], request=s.QueryOpenSerializer, responses={201: s.QueryDetailSerializer, **WRITE_ERRORS}
    )
    def post(self, request, patient_pk: int):
        patient = ecrf_selectors.patient_get(user=request.user, pk=patient_pk)
        body = s.QueryOpenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        query = services.query_open(
            patient=patient,
            study_day=data.get("study_day"),
            form=data.get("form", ""),
            field=data.get("field", ""),
            record_id=data.get("record_id"),
            assignee=_assignee(data.get("assignee", "")),
            text=data["text"],
            user=request.user,
            source=SOURCE,
        )
        return Response(s.QueryDetailSerializer(query).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["queries"])
class QueryDetail(ApiView):
    """One query with its thread."""

    read_roles = roles.PATIENT_READERS
    serializer_class = s.QueryDetailSerializer

    @extend_schema(parameters=[QUERY_PK], responses={200: s.QueryDetailSerializer, **READ_ERRORS})
    def get(self, request, pk: int):
        return Response(s.QueryDetailSerializer(selectors.query_get(user=request.user, pk=pk)).data)


#: The transitions by their name in the address; the services say who may (cohorts.roles.QUERY_*).
ACTIONS = {
    "answer": services.query_answer,
    "comment": services.query_comment,
    "close": services.query_close,
    "reopen": services.query_reopen,
}


@extend_schema(tags=["queries"])
class QueryAction(ApiView):
    """A transition of a query: answer (the site's staff: an answer code and a message), comment, close or
    reopen (monitors and data managers, with a message). A closed query cannot be answered (422)."""

    read_roles = frozenset()
    write_roles = roles.QUERY_RAISERS | roles.QUERY_ANSWERERS
    serializer_class = s.QueryActionSerializer

    @extend_schema(
        parameters=[
            QUERY_PK,
            OpenApiParameter("action", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(ACTIONS)),
        ],
        request=s.QueryActionSerializer,
        responses={200: s.QueryDetailSerializer, **WRITE_ERRORS},
    )
    def post(self, request, pk: int, action: str):
        query = selectors.query_get(user=request.user, pk=pk)
        if action not in ACTIONS:
            raise Problem(
                404,
                _("No action %(action)s; use one of %(actions)s.") % {"action": action, "actions": ", ".join(ACTIONS)},
            )
        service = ACTIONS[action]
        body = s.QueryActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        kwargs = {"query": query, "text": body.validated_data["text"], "user": request.user}
        if action == "answer":
            kwargs["answer_code"] = body.validated_data.get("answer_code", "")
        if action != "comment":
            kwargs["source"] = SOURCE
        service(**kwargs)
        return Response(s.QueryDetailSerializer(selectors.query_get(user=request.user, pk=pk)).data)
