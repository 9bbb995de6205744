"""The OpenAPI 3 schema: generated without warnings or errors, valid, served at /api/v1/schema/."""

from django.core.management import call_command

from tests.api.conftest import Api, make_token


def test_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "openapi: 3." in text and "bearerAuth" in text


def test_schema_is_served_to_a_token_and_to_a_session(client, users):
    response = Api(client, make_token(users["statistician"])).get(
        "/api/v1/schema/", headers={"Accept": "application/json"}
    )
    assert response.status_code == 200
    assert "/api/v1/patients/{patient_pk}/records/{form}/" in response.content.decode()
    client.force_login(users["nurse"])
    assert client.get("/api/v1/schema/").status_code == 200


def test_schema_as_json(client, users):
    response = Api(client, make_token(users["nurse"])).get("/api/v1/schema/", format="json")
    assert response.status_code == 200 and response.json()["openapi"].startswith("3.")
