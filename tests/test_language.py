"""The language of the pages: the user's own choice (profile) wins over the browser's Accept-Language; without a
choice the browser's language is used; the choice is stored per user, not per browser."""

from accounts.models import UserPreference


def test_without_a_choice_the_browser_s_language_is_used(client, users):
    client.force_login(users["nurse"])
    italian = client.get("/accounts/language/", HTTP_ACCEPT_LANGUAGE="it-IT,it;q=0.9")
    assert italian["Content-Language"] == "it"
    assert '<html lang="it"' in italian.text and "Lingua delle pagine" in italian.text
    english = client.get("/accounts/language/", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    assert '<html lang="en-gb"' in english.text and "Language of the pages" in english.text


def test_the_user_s_choice_wins_over_the_browser(client, users):
    UserPreference.objects.create(user=users["nurse"], language="it")
    client.force_login(users["nurse"])
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    assert response["Content-Language"] == "it"
    assert '<html lang="it"' in response.text and "Esci" in response.text


def test_choosing_a_language_stores_it_and_the_next_pages_follow(client, users):
    client.force_login(users["investigator"])
    response = client.post("/accounts/language/", {"language": "it"}, HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert "Lingua salvata." in response.text
    assert UserPreference.objects.get(user=users["investigator"]).language == "it"
    assert "Esci" in client.get("/", HTTP_ACCEPT_LANGUAGE="en").text

    # Back to "the browser's language": English for an English browser again.
    response = client.post("/accounts/language/", {"language": ""}, HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert "Language saved." in response.text
    assert UserPreference.objects.get(user=users["investigator"]).language == ""
    assert "Log out" in client.get("/", HTTP_ACCEPT_LANGUAGE="en").text


def test_a_language_the_site_does_not_offer_is_refused_next_to_the_field(client, users):
    client.force_login(users["nurse"])
    response = client.post("/accounts/language/", {"language": "de"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "Select a valid choice. de is not one of the available choices." in response.text
    assert not UserPreference.objects.exists()


def test_each_user_of_a_shared_browser_gets_their_own_language(client, users):
    UserPreference.objects.create(user=users["nurse"], language="it")
    client.force_login(users["nurse"])
    assert "Esci" in client.get("/", HTTP_ACCEPT_LANGUAGE="en").text
    client.logout()
    client.force_login(users["monitor"])  # same browser, a user who chose nothing
    assert "Log out" in client.get("/", HTTP_ACCEPT_LANGUAGE="en").text
