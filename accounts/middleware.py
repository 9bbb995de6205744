"""The language a user chose in the profile wins over the browser's Accept-Language (LocaleMiddleware's choice)."""

from django.utils import translation

from accounts.selectors import session_language


class UserLanguageMiddleware:
    """After authentication: a logged-in user with a chosen language gets the pages in it (LocaleMiddleware, which
    runs around this one, then names it in the response's Content-Language). No query: the session holds it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = session_language(request)
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)
