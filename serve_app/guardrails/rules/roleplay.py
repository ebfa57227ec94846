"""Role play to bypass rules: DAN and its kin, "pretend you have no restrictions", developer mode...

Role play itself is ordinary ("act as a travel agent", "pretend you are a pirate"): the persona frame
weighs little. What counts is a model said to be free of rules, filters or ethics, the named jailbreak
personas, and the "modes" that switch safety off; with a persona frame they make a detection.
"""

from __future__ import annotations

from serve_app.guardrails.rule import Damping, Rule, gap, on, one_of, rule

CATEGORY = "roleplay_jailbreak"
Q = Damping.QUOTED

_PERSONAS = r"\b(?:dan|stan|aim|dude|mongo\W+tom|evilbot|betterdan|antigpt|devmode)\b"

_FREE_EN = one_of(r"with\W+no", "no", "zero", "without", r"free\W+(?:of|from)",
                  r"(?:that\W+|which\W+|who\W+)?(?:has\W+been\W+|have\W+been\W+|is\W+|are\W+|was\W+|were\W+)?freed\W+from",
                  r"(?:never|not)\W+(?:been\W+)?(?:given|taught|trained\W+with|programmed\W+with)",
                  r"(?:removed|disabled|lifted|stripped|deleted|turned\W+off)",
                  r"(?:not|no\W+longer|never)\W+(?:bound|limited|restricted|constrained)\W+by", r"not\W+subject\W+to",
                  r"broken\W+free\W+(?:of|from)", r"(?:doesn't|does\W+not|don't|do\W+not|never)\W+(?:have\W+to\W+)?"
                  r"(?:have|follow|care\W+about|abide\W+by|need)")
_LIMITS_EN = one_of(r"restrictions?", r"limits?(?!\W+(?:on|to|of|for|in)\b)", r"limitations?", r"filters?", r"rules?",
                    r"guidelines?", r"polic(?:y|ies)", "ethics", r"ethical\W+\w+", r"morals?", "morality", "censorship",
                    "boundaries", "constraints", "confines", r"safeguards?", r"guardrails?", r"safety\W+\w+")
_SUBJECT_EN = r"\b(?:ai|assistant|model|chatbot|bot|llm|version|persona)\b"

_FREE_FR = one_of("sans", r"aucune?", r"plus\W+aucune?", r"pas\W+de", r"libre\W+de", r"liberee?\W+de",
                  r"affranchie?\W+de", r"soumise?\W+a\W+aucune?", r"n'a\W+plus\W+(?:de|aucune?)",
                  r"n'as\W+plus\W+(?:de|aucune?)", r"n'avai[st]\W+(?:plus\W+)?aucune?")
_LIMITS_FR = one_of(r"regles?", r"restrictions?", r"limites?(?!\W+de\b|\W+d')",
                    r"filtres?", "censure", r"politiques?\W+de\W+contenu", r"contraintes?", "ethique", "morale",
                    r"garde-fous?", r"limitations?")
_SUBJECT_FR = r"\b(?:tu|toi|ia|assistant|modele|chatbot|bot)\b"

_FREE_ES = one_of("sin", r"ningun[ao]?", r"libre\W+de", r"liberad[oa]\W+de", r"sujet[oa]\W+a\W+ningun[ao]?",
                  r"no\W+tiene\W+(?:ningun[ao]?\W+)?", r"no\W+tienes\W+(?:ningun[ao]?\W+)?")
_LIMITS_ES = one_of(r"reglas?", r"restricci(?:on|ones)", r"limites?(?!\W+de\b)",
                    r"filtros?", "censura", r"politicas?\W+de\W+contenido", r"normas?", "etica", "moral",
                    r"limitaci(?:on|ones)", r"limites\W+eticos")
_SUBJECT_ES = r"\b(?:tu|ti|eres|fueras|tuvieras|estuvieras|tienes|ia|asistente|modelo|chatbot|bot)\b"

_FREE_IT = one_of("senza", r"nessun[ao]?", r"alcun[ao]?", r"liber[oa]\W+da", r"liberat[oa]\W+da",
                  r"vincolat[oa]\W+da\W+nessun[ao]?", r"non\W+(?:ha|hai|avere)\W+(?:alcun[ao]?\W+)?")
_LIMITS_IT = one_of(r"regol[ae]", r"restrizion[ei]", r"limit[ei](?!\W+di\b)", r"filtr[oi]",
                    "censura", "policy", r"politiche", r"norme", "etica", "morale", "vincoli", r"limitazion[ei]")
_SUBJECT_IT = r"\b(?:tu|ti|sei|fossi|avere|hai|ia|assistente|modello|chatbot|bot)\b"

_FREE_DE = one_of(r"keine(?:rlei|n|r)?", r"ohne(?:\W+jede\w?)?", r"frei\W+von",
                  r"nicht\W+(?:an|durch)\W+(?:\w+\W+)?(?:gebunden|beschrankt)", r"an\W+keine")
_LIMITS_DE = one_of("regeln", r"einschrankungen", "grenzen", "filter", "zensur", "richtlinien", r"beschrankungen",
                    "ethik", "moral", "vorgaben", r"limits?")
_SUBJECT_DE = r"\b(?:du|dich|dir|ki|assistent\w*|modell|chatbot|bot)\b"


def _free(subject: str, free: str, limits: str, words: int = 3) -> str:
    return rf"{subject}\W+{gap(words)}{free}\W+{gap(2)}{limits}"


_A_LIMITS_EN = ("restriction restrictions limit limits limitations filter filters rule rules guidelines policy "
                "policies ethics ethical morals morality censorship boundaries constraints confines safeguards "
                "guardrails safety")
_A_LIMITS_FR = "regle regles restriction limite filtre censure politique contraintes ethique morale garde limitation"
_A_LIMITS_ES = ("regla reglas restriccion restricciones limite limites filtro censura politica normas etica moral "
                "limitacion")
_A_LIMITS_IT = ("regole regola restrizioni limite limiti filtri censura policy politiche norme etica morale vincoli "
                "limitazioni")
_A_LIMITS_DE = ("regeln einschrankungen grenzen filter zensur richtlinien beschrankungen ethik moral vorgaben limit "
                "limits")

RULES: tuple[Rule, ...] = (
    rule("roleplay.named_persona", CATEGORY, 0.85,
         on("anything strive dan stan aim dude mongo evilbot betterdan antigpt devmode",
            r"\bdo\W+anything\W+now\b", r"\bstrive\W+to\W+avoid\W+norms\b",
            r"\b(?:pretend\W+(?:to\W+be|you\W+are)|you\W+are\W+(?:now\W+)?(?:going\W+to\W+be\W+)?|you're\W+(?:now\W+)?"
            r"|act\W+as|play\W+the\W+role\W+of|roleplay\W+as|from\W+now\W+on\W+you\W+are)\W+(?:\w+\W+)?" + _PERSONAS,
            r"\b(?:jouer?\W+le\W+role\W+de|tu\W+es|incarne|joue)\W+(?:\w+\W+)?" + _PERSONAS,
            r"\b(?:papel\W+de|eres|interpreta\W+a|haz\W+de)\W+(?:\w+\W+)?" + _PERSONAS,
            r"\b(?:interpreterai|interpreta|sei|impersona)\W+(?:\w+\W+)?" + _PERSONAS,
            r"\b(?:du\W+spielst|du\W+bist|spiel|spiele)\W+(?:\w+\W+)?" + _PERSONAS),
         damping=Q),
    rule("roleplay.persona_frame", CATEGORY, 0.3,
         on("pretend imagine act respond answer roleplay role play now stay simulate game novel story book screenplay "
            "hypothetical hypothetically",
            r"\b(?:pretend|imagine|act\W+as|respond\W+as\W+if|answer\W+as\W+if|role-?\W*play|you\W+are\W+now"
            r"|from\W+now\W+on,?\W+you\W+(?:are|will)|stay\W+in\W+character|simulate|let's\W+play\W+a\W+game"
            r"|for\W+a\W+(?:novel|story|book|screenplay)|hypothetical\w*)\b"),
         on("comme imagine role incarne maintenant desormais personnage semblant pretends",
            r"\b(?:fai\w*\W+comme\W+si|imagine\W+(?:que|etre)|jou\w*\W+le\W+role|incarne|tu\W+es\W+(?:maintenant|desormais)"
            r"|a\W+partir\W+de\W+maintenant\W+tu\W+es|desormais\W+tu\W+es|reste\W+dans\W+(?:ton|le)\W+personnage"
            r"|fais\W+semblant|pretends)\b"),
         on("como finge finges fingir imagina imaginate papel haz interpreta actua ahora personaje",
            r"\b(?:haz\W+como\W+si|fing\w*|imagina\W+que|imaginate|haz\W+(?:el\W+papel|de)|hacer\W+el\W+papel|interpreta"
            r"|actua\W+como|(?:a\W+partir\W+de|desde|de)\W+ahora(?:\W+en\W+adelante)?\W+eres|ahora\W+eres"
            r"|no\W+salgas\W+del\W+personaje)\b"),
         on("finta fingi fingere immagina interpreta interpreterai impersona fai recita ora poi avanti adesso "
            "personaggio",
            r"\b(?:fai\W+finta|fingi\w*|immagina\W+(?:di|che)|interpreta\w*|impersona|fai\W+(?:il|la|l')"
            r"|recita\W+la\W+parte|d'ora\W+in\W+(?:poi|avanti)\W+sei|da\W+ora\W+sei|adesso\W+sei|ora\W+sei"
            r"|resta\W+nel\W+personaggio)\b"),
         on("tu stell spiel spiele spielst jetzt nun sofort rolle gib",
            r"\b(?:tu\W+so\W+als|stell\W+dir\W+vor|spiel(?:e|st)?\W+(?:jetzt\W+)?(?:einen?|die\W+rolle|den|eine)"
            r"|du\W+spielst|ab\W+jetzt\W+bist\W+du|von\W+nun\W+an\W+bist\W+du|du\W+bist\W+(?:jetzt|nun|ab\W+sofort)"
            r"|bleib\W+in\W+der\W+rolle|gib\W+dich\W+als)\b")),
    rule("roleplay.no_restrictions", CATEGORY, 0.65,
         on(f"{_A_LIMITS_EN} | you yourself", _free(r"\b(?:you|yourself)\b", _FREE_EN, _LIMITS_EN, words=2)),
         on(f"{_A_LIMITS_EN} | ai assistant model chatbot bot llm version persona",
            _free(_SUBJECT_EN, _FREE_EN, _LIMITS_EN, words=4)),
         on(f"{_A_LIMITS_FR} | tu toi ia assistant modele chatbot bot", _free(_SUBJECT_FR, _FREE_FR, _LIMITS_FR)),
         on(f"{_A_LIMITS_ES} | tu ti eres fueras tuvieras estuvieras tienes ia asistente modelo chatbot bot",
            _free(_SUBJECT_ES, _FREE_ES, _LIMITS_ES)),
         on(f"{_A_LIMITS_IT} | tu ti sei fossi avere hai ia assistente modello chatbot bot",
            _free(_SUBJECT_IT, _FREE_IT, _LIMITS_IT)),
         on(f"{_A_LIMITS_DE} | du dich dir ki assistent assistenten modell chatbot bot",
            _free(_SUBJECT_DE, _FREE_DE, _LIMITS_DE)),
         damping=Q),
    rule("roleplay.uncensored", CATEGORY, 0.45,
         on("unfiltered uncensored unrestricted amoral jailbroken unaligned unmoderated",
            r"\b(?:unfiltered|uncensored|unrestricted|amoral|jailbroken|unaligned|unmoderated)\W+(?:and\W+\w+\W+)?"
            r"(?:ai|assistant|chatbot|bot|model|llm|version|mode|responses?|answers?|persona|gpt)s?\b",
            r"\b(?:normal|regular|standard|filtered|censored)\W+(?:one\W+)?and\W+(?:one\W+|an?\W+)?"
            r"(?:uncensored|unfiltered|jailbroken|unrestricted)\b"),
         on("censure censuree filtre debride debridee amoral amorale",
            r"\b(?:ia|assistant|chatbot|modele|version|reponse|mode)\W+(?:\w+\W+)?(?:sans\W+(?:filtre|censure)"
            r"|non\W+censure\w*|debride\w*|amoral\w*)",
            r"\bune\W+normale\W+et\W+une\W+(?:sans\W+censure|non\W+censuree)"),
         on("filtro filtros censura amoral",
            r"\b(?:ia|asistente|chatbot|modelo|version|respuesta|modo)\W+(?:\w+\W+)?(?:sin\W+(?:filtros?|censura)|amoral)",
            r"\buna\W+normal\W+y\W+otra\W+sin\W+censura"),
         on("filtri censura amorale",
            r"\b(?:ia|assistente|chatbot|modello|versione|risposta|modalita)\W+(?:\w+\W+)?(?:senza\W+(?:filtri|censura)"
            r"|amorale)",
            r"\buna\W+normale\W+e\W+una\W+senza\W+censura"),
         on("filter zensur unzensiert unzensierte unzensierten",
            r"\b(?:ki|assistent\w*|chatbot|modell|version|antwort)\W+(?:\w+\W+)?(?:ohne\W+(?:filter|zensur)|unzensiert\w*)",
            r"\bunzensiert\w*\W+(?:ki|assistent\w*|antwort\w*|version|modus)|\beine\W+normale\W+und\W+eine\W+unzensierte"),
         damping=Q),
    rule("roleplay.evil_ai", CATEGORY, 0.35,
         on("evil malicious rogue unhinged unethical malefique malveillante maligne malvado malvada malvagio malvagia "
            "bose",
            r"\b(?:evil|malicious|rogue|unhinged|unethical)\W+(?:ai|assistant|chatbot|bot|llm|gpt|version\W+of\W+yourself)\b",
            r"\bia\W+(?:malefique|malveillante|maligne)|\bia\W+malvad[oa]|\bia\W+malvagi[oa]|\bbose\W+ki\b"),
         damping=Q),
    rule("roleplay.unsafe_mode", CATEGORY, 0.75,
         on("mode modo modalita gottmodus jailbreak jailbreakmodus modus danmodus",
            r"\b(?:enable|activate|enter|switch\W+(?:to|into|on)|turn\W+on|unlock|engage|start)\W+(?:the\W+)?"
            r"(?:god|jailbreak|unrestricted|dan|evil|uncensored|unfiltered)\W*mode\b",
            r"\byou\W+are\W+(?:now\W+)?in\W+(?:developer|god|jailbreak|dan|unrestricted|maintenance|sudo|evil)\W*mode\b",
            r"\b(?:mode|modo|modalita)\W+(?:dieu|dios|jailbreak|sans\W+(?:filtre|censure)|sin\W+censura|senza\W+censura"
            r"|dan)\b",
            r"\b(?:gottmodus|jailbreak-?modus|dan-?modus)\b"),
         damping=Q),
    rule("roleplay.developer_mode", CATEGORY, 0.45,
         on("mode modo modalita entwicklermodus entwickler debugmodus debug adminmodus admin modus",
            r"\b(?:enable|activate|enter|switch\W+(?:to|into|on)|turn\W+on|unlock|engage)\W+(?:the\W+)?"
            r"(?:developer|dev|debug|admin|maintenance|sudo|root)\W*mode\b",
            r"\b(?:developer|dev|god|jailbreak|dan|unrestricted|maintenance|sudo)\W*mode\W+(?:is\W+)?(?:now\W+)?"
            r"(?:enabled|activated|on|engaged|unlocked)\b",
            r"\b(?:activ\w*|pass\w*\W+en)\W+(?:le\W+)?mode\W+(?:developpeur|dev|administrateur|debug)\b",
            r"\b(?:activ\w*)\W+(?:el\W+)?modo\W+(?:desarrollador|administrador|depuracion)\b",
            r"\b(?:attiva\w*)\W+(?:la\W+)?modalita\W+(?:sviluppatore|amministratore|debug)\b",
            r"\b(?:aktivier\w*|schalte\w*|wechsle\W+in)\W+(?:den\W+)?(?:entwickler-?modus|debug-?modus|admin-?modus)\b"),
         damping=Q),
    rule("roleplay.jailbroken", CATEGORY, 0.4,
         on("jailbroken jailbreak", r"\bjailbr(?:oken|eak\W+mode)\b"), damping=Q),
    rule("roleplay.never_refuse", CATEGORY, 0.45,
         on("refuse refuses decline declines say reject kind",
            r"\b(?:never|doesn't|does\W+not|won't|will\W+not|must\W+not|shall\W+not|should\W+not|not\W+allowed\W+to)\W+"
            r"(?:ever\W+)?(?:refuse[sd]?|declines?|says?\W+no|rejects?)\b",
            r"\b(?:generate|produce|write|say|create)\W+any\W+kind\W+of\W+content\b"),
         on("refuse refuses refusera", r"\bne\W+refuse\w*\W+jamais\b"),
         on("niega niegas rechaza", r"\bnunca\W+(?:se\W+niega|te\W+niegas|rechaza\w*)\b"),
         on("rifiuta rifiuti rifiutare", r"\bnon\W+rifiut\w*\W+mai\b"),
         on("lehnt lehnst ablehnt ablehnen",
            r"\b(?:lehnt|lehnst)\W+(?:\w+\W+)?nie\b|\bnie\W+etwas\W+ablehnt\b|\bniemals\W+ablehn"),
         damping=Q),
    rule("roleplay.grandma", CATEGORY, 0.6,
         on("grandmother grandma grandfather grandpa grandparent granny nana",
            r"\b(?:deceased|dead|late|passed\W+away)\W+(?:\w+\W+)?(?:grand(?:mother|ma|father|pa|parent)|granny|nana)\b"
            rf"\W+{gap(3)}(?:used\W+to|would)\b"),
         damping=Q),
    rule("roleplay.safety_off", CATEGORY, 0.65,
         on("safety content ethical moral moderation",
            rf"\b(?:safety|content|ethical|moderation)\W+(?:filters?|features?|guidelines|policies|policy|restrictions"
            rf"|protocols?|measures|rules|checks|guardrails)\W+{gap(2)}(?:disabled|removed|turned\W+off|switched\W+off"
            r"|deactivated|bypassed|lifted|suspended)\b",
            rf"\b(?:disable|turn\W+off|switch\W+off|remove|bypass|deactivate|drop|lift)\W+(?:all\W+)?(?:of\W+)?your\W+"
            rf"{gap(1)}(?:safety|content|ethical|moral|moderation)\W+(?:filters?|guidelines|polic\w+|restrictions|rules"
            r"|protocols|training|guardrails|settings|checks)"),
         on("securite moderation contenu",
            rf"\b(?:filtres?|garde-fous?|regles?|politiques?)\W+(?:de\W+)?(?:securite|moderation|contenu)\W+{gap(2)}"
            r"(?:desactive\w*|supprime\w*|retire\w*|leve\w*|coupe\w*)"),
         on("seguridad contenido moderacion",
            rf"\b(?:filtros?|politicas?|normas?)\W+de\W+(?:seguridad|contenido|moderacion)\W+{gap(2)}"
            r"(?:desactivad\w*|eliminad\w*|suspendid\w*)"),
         on("sicurezza moderazione contenuto",
            rf"\b(?:filtri|politiche|regole)\W+di\W+(?:sicurezza|moderazione|contenuto)\W+{gap(2)}"
            r"(?:disattivat\w*|rimoss\w*|sospes\w*)"),
         on("sicherheitsfilter sicherheitsrichtlinien inhaltsfilter schutzfilter",
            rf"\b(?:sicherheitsfilter|sicherheitsrichtlinien|inhaltsfilter|schutzfilter)\W+{gap(2)}"
            r"(?:abgeschaltet|deaktiviert|entfernt|ausgeschaltet|aufgehoben)"),
         damping=Q),
)
