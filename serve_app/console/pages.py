"""The page a refused sign-in shows: what happened and what to do, in the person's language (French or
English, from ``Accept-Language``), never a stack trace or a token."""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "title": "Sign-in refused",
        "back": "Back to the console",
        "email_domain": "Your e-mail address is not in one of the domains your organisation allows for the console "
                        "(or it is not verified). Sign in with your work account.",
        "not_in_group": "Your account is not in the group your organisation allows to administer the platform. "
                        "Ask your organisation's administrator to add you.",
        "not_operator": "Your account does not have the platform operator's administrator role.",
        "mfa_required": "Your organisation requires multi-factor authentication (for example a code or a security "
                        "key) for the console. Sign in again with it.",
        "unknown_organisation": "No organisation has this identifier. Check the link your operator gave you.",
        "no_sso": "Your organisation has no single sign-on set up for the console yet. Ask the platform's operator.",
        "no_operator_sso": "Sign-in for the platform's operators is not set up on this platform.",
        "bad_request": "This sign-in link is incomplete. Start again from the console.",
        "state_invalid": "This sign-in has expired, was already used, or was started in another browser. "
                         "Start again from the console.",
        "provider_error": "Your identity provider did not sign you in (it may have been cancelled). Try again.",
        "code_refused": "Your identity provider refused to confirm this sign-in. Start again from the console.",
        "invalid_id_token": "The answer from your identity provider could not be verified. Start again; if this "
                            "keeps happening, contact the platform's operator.",
        "issuer_unreachable": "Your identity provider cannot be reached right now. Try again in a minute.",
        "insecure_issuer": "Your organisation's identity provider is not reached over a secure connection (https), "
                           "so the console does not use it. Ask the platform's operator.",
    },
    "fr": {
        "title": "Connexion refusée",
        "back": "Retour à la console",
        "email_domain": "Votre adresse e-mail n'appartient pas à un domaine autorisé par votre organisation pour la "
                        "console (ou elle n'est pas vérifiée). Connectez-vous avec votre compte professionnel.",
        "not_in_group": "Votre compte ne fait pas partie du groupe que votre organisation autorise à administrer la "
                        "plateforme. Demandez à l'administrateur de votre organisation de vous y ajouter.",
        "not_operator": "Votre compte n'a pas le rôle d'administrateur de l'opérateur de la plateforme.",
        "mfa_required": "Votre organisation exige une authentification multifacteur (par exemple un code ou une clé "
                        "de sécurité) pour la console. Reconnectez-vous avec celle-ci.",
        "unknown_organisation": "Aucune organisation ne porte cet identifiant. Vérifiez le lien fourni par votre "
                                "opérateur.",
        "no_sso": "Votre organisation n'a pas encore d'authentification unique configurée pour la console. "
                  "Adressez-vous à l'opérateur de la plateforme.",
        "no_operator_sso": "La connexion des opérateurs n'est pas configurée sur cette plateforme.",
        "bad_request": "Ce lien de connexion est incomplet. Recommencez depuis la console.",
        "state_invalid": "Cette connexion a expiré, a déjà été utilisée ou a été commencée dans un autre "
                         "navigateur. Recommencez depuis la console.",
        "provider_error": "Votre fournisseur d'identité ne vous a pas connecté (la connexion a peut-être été "
                          "annulée). Réessayez.",
        "code_refused": "Votre fournisseur d'identité a refusé de confirmer cette connexion. Recommencez depuis la "
                        "console.",
        "invalid_id_token": "La réponse de votre fournisseur d'identité n'a pas pu être vérifiée. Recommencez ; si "
                            "le problème persiste, contactez l'opérateur de la plateforme.",
        "issuer_unreachable": "Votre fournisseur d'identité est injoignable pour le moment. Réessayez dans une "
                              "minute.",
        "insecure_issuer": "Le fournisseur d'identité de votre organisation n'est pas joint par une connexion "
                           "sécurisée (https) ; la console ne l'utilise donc pas. Adressez-vous à l'opérateur.",
    },
}


def language(request: Request) -> str:
    """French when the browser prefers it to English, else English."""
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith(("fr", "en")):
            return tag[:2]
    return "en"


def refusal(request: Request, reason: str, status: int) -> HTMLResponse:
    lang = language(request)
    words = MESSAGES[lang]
    message = words.get(reason, words["bad_request"])
    body = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{html.escape(words["title"])}</title>'
            '<link rel="stylesheet" href="/console/static/console.css"></head>'
            f'<body><main class="refusal"><h1>{html.escape(words["title"])}</h1>'
            f'<p role="alert" data-reason="{html.escape(reason)}">{html.escape(message)}</p>'
            f'<p><a href="/console">{html.escape(words["back"])}</a></p></main></body></html>')
    return HTMLResponse(body, status_code=status, headers={"cache-control": "no-store"})
