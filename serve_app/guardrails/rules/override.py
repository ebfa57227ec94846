"""Instruction override: "ignore all previous instructions", in English, French, Spanish, Italian, German.

A hit needs a verb of dismissal, a noun for the model's instructions and something that points at the
model's own ones (previous, above, your, system...), so "ignore the typos in my previous message" or
"forget the budget I mentioned" stay clean.
"""

from __future__ import annotations

from serve_app.guardrails.rule import Damping, Rule, gap, on, one_of, rule

CATEGORY = "instruction_override"
Q = Damping.QUOTED

# English
_V_EN = one_of(r"ignor(?:e|es|ed|ing)", r"disregard(?:s|ed|ing)?", r"forget(?:s|ting)?", r"overrid(?:e|es|ing)",
               r"overrules?", r"bypass(?:es)?", "skip", "drop", r"discards?", "abandon", r"set\W+aside", r"put\W+aside",
               "neglect", r"never\W*mind", r"throw\W+(?:out|away)", r"toss\W+(?:out|away)", "scrap", "erase", "wipe",
               "cancel", "reset", "clear", "overlook", r"look\W+past", r"pay\W+no\W+(?:attention|heed|mind)\W+to")
_Q_EN = one_of("all", "your", "any", "every", "previous", "previously", "prior", "preceding", "above", "earlier",
               "former", "original", "initial", "existing", "system", r"developer'?s?", r"operator'?s?", r"openai'?s?",
               "these", "those", "aforementioned", "foregoing", "default", "built-in", "hidden")
_O_EN = one_of(r"instructions?", r"directions?", r"directives?", r"rules?", r"guidelines?", "guidance",
               r"constraints?", r"prompts?", r"polic(?:y|ies)", r"restrictions?", r"orders?", r"commands?",
               r"safeguards?", r"guardrails?", r"limitations?", "programming", "training", "configuration", "ones")
_O_STRONG_EN = one_of(r"system\W+(?:message|prompt|instructions?)", r"content\W+polic(?:y|ies)",
                      r"safety\W+(?:guidelines|rules|policies|filters|training|measures)",
                      r"ethical\W+(?:guidelines|rules|principles|constraints)", "guardrails", r"pre-?prompt",
                      r"initial\W+prompt")
_POST_EN = one_of("above", "before", "earlier", "previously", r"so\W+far", r"until\W+now",
                  r"(?:that\W+)?you\W+(?:were|have\W+been|'ve\W+been|got|received|had)\b", r"given\W+to\W+you",
                  r"from\W+(?:the\W+)?(?:system|developer|start)")
_VOID = one_of("void", "null", "revoked", r"cancel+ed", "obsolete", "invalid",
               r"no\W+longer\W+(?:valid|apply|in\W+effect)", "lifted", "disabled", "suspended", "deprecated",
               "overridden", "superseded", "expired", "deactivated")

_A_EN = ("ignore ignores ignored disregard forget override overrule bypass skip drop discard abandon aside neglect "
         "never throw toss scrap erase wipe cancel heed attention mind reset clear overlook past")

# French
_V_FR = one_of(r"oubli\w*", r"ignor\w*", r"t(?:ie|e)n\w*\W+(?:plus|aucun)\W+compte", r"pren\w*\W+plus\W+en\W+compte",
               r"fai\w*\W+abstraction", r"laiss\w*\W+tomber", r"annul\w*", r"effac\w*", r"pass\w*\W+outre",
               r"outrepass\w*", r"sui[sv]\w*\W+plus", r"respect\w*\W+plus", r"abandonn\w*", r"ecart\w*")
_A_FR = "oublie ignore compte abstraction tomber annule efface outre plus abandonne ecarte"
_PRE_FR = one_of("tes", "vos", "toutes", "tous", "ta", "ton", "votre")
_O_FR = one_of(r"instructions?", r"consignes?", r"regles?", r"directives?", r"indications?", r"ordres?",
               r"restrictions?", r"limites?", r"prompts?", r"contraintes?")
_POST_FR = one_of(r"precedent\w*", r"anterieur\w*", r"ci-dessus", r"au-dessus", r"plus\W+haut", r"initia\w*",
                  r"d'origine", r"originel\w*", r"(?:du\W+)?systeme", r"du\W+developpeur", r"de\W+depart",
                  r"que\W+(?:[\w'-]+\W+){0,2}?(?:t'a|t'ont|tu\W+as|vous\W+a)", r"qu'on\W+t'a", r"recue?s",
                  r"imposee?s")
_O_STRONG_FR = one_of(r"(?:message|prompt|invite)\W+(?:du\W+)?systeme", r"politiques?\W+de\W+contenu",
                      r"garde-fous", r"regles\W+de\W+(?:securite|moderation)")

# Spanish
_V_ES = one_of(r"ignor\w*", r"olvid\w*", r"no\W+hag\w*\W+caso\W+(?:de|a)",
               r"no\W+(?:tengas|tenga|tengan|tomes|tome)\W+en\W+cuenta", r"ha\w*\W+caso\W+omiso\W+(?:de|a)",
               r"pas\w*\W+por\W+alto", r"descart\w*", r"anul\w*", r"dej\w*\W+de\W+(?:seguir|obedecer|cumplir|respetar)",
               r"omit\w*", r"salta\w*", r"abandon\w*", r"desobedec\w*", r"no\W+(?:sigas|respetes|cumplas)")
_A_ES = ("ignora olvida caso cuenta alto descarta anula deja omite omitir salta abandona desobedece sigas respetes "
         "cumplas")
_PRE_ES = one_of("tus", "todas", "todos", "vuestras", "tu")
_O_ES = one_of(r"instrucciones", r"instruccion", r"indicaciones", r"reglas?", r"directrices", r"normas?",
               r"consignas", r"ordenes", r"restricciones", r"limitaciones", r"directivas", r"pautas", r"prompts?")
_POST_ES = one_of(r"anteriores", r"previas", r"de\W+arriba", r"originales", r"iniciales", r"del\W+sistema",
                  r"del\W+desarrollador", r"de\W+antes", r"precedentes", r"impuestas",
                  r"que\W+(?:[\w'-]+\W+){0,2}?(?:te\W+(?:dieron|dio|han\W+dado|impusieron|ha\W+dado)|recibiste)")
_O_STRONG_ES = one_of(r"(?:mensaje|prompt)\W+del?\W+sistema", r"politicas?\W+de\W+contenido",
                      r"normas\W+de\W+seguridad")

# Italian
_V_IT = one_of(r"ignora\w*", r"dimentica\w*", r"non\W+tenere\W+(?:piu\W+)?conto", r"non\W+considerare(?:\W+piu)?",
               r"lascia\W+perdere", r"annulla\w*", r"smetti\W+di\W+(?:seguire|obbedire|rispettare)",
               r"non\W+seguire(?:\W+piu)?", r"trascura\w*", r"salta\w*", r"scarta\w*", r"tralascia\w*",
               r"non\W+rispettare(?:\W+piu)?", r"disobbedisci")
_A_IT = ("ignora dimentica conto considerare perdere annulla smetti seguire trascura salta scarta tralascia rispettare "
         "disobbedisci")
_PRE_IT = one_of("tue", "tutte", "tutti", "vostre", "tuoi")
_O_IT = one_of(r"istruzion[ei]", r"indicazion[ei]", r"regol[ae]", r"direttive?", r"linee\W+guida", r"consegne",
               r"ordini", r"restrizion[ei]", r"limitazion[ei]", r"vincoli", r"prompts?")
_POST_IT = one_of(r"precedent[ei]", r"qui\W+sopra", r"di\W+sopra", r"sopra", r"originali", r"iniziali",
                  r"di\W+sistema", r"dello\W+sviluppatore", r"ricevute", r"impost[ei]", r"di\W+prima",
                  r"che\W+(?:[\w'-]+\W+){0,2}?(?:ti\W+(?:sono\W+state|hanno|ha)|hai\W+ricevuto)")
_O_STRONG_IT = one_of(r"(?:messaggio|prompt)\W+di\W+sistema", r"policy\W+sui\W+contenuti",
                      r"regole\W+di\W+sicurezza")

# German (adjectives come before the noun; some verbs are separable)
_V_DE = one_of(r"ignorier\w*", r"vergiss", r"vergess\w*", r"missacht\w*", r"verwirf", r"verwerf\w*", r"ubergeh\w*",
               r"uberspring\w*")
_A_DE = "ignorier vergiss missacht verwirf verwerf ubergeh uberspring"
_Q_DE = one_of("alle", "deine", "samtliche", r"bisherig\w*", r"vorherig\w*", r"vorig\w*", r"obig\w*",
               r"fruher\w*", r"ursprunglich\w*", r"anfanglich\w*", r"vorangegangen\w*", "alten")
_O_DE = one_of(r"(?:system)?anweisung\w*", "vorgaben", "regeln", "richtlinien", "instruktionen", "befehle",
               r"einschrankungen", "anordnungen", "direktiven", r"prompts?", "programmierung", "vorschriften")
_POST_DE = one_of(r"(?:von\W+)?oben", r"des\W+entwicklers", r"des\W+systems", r"die\W+man\W+dir",
                  r"die\W+du\W+(?:[\w'-]+\W+){0,3}?(?:bekommen|erhalten|hast)")
_O_STRONG_DE = one_of(r"system-?(?:nachricht|prompt|anweisungen?|meldung)", r"system\W+prompt",
                      r"sicherheitsrichtlinien", r"inhaltsrichtlinien")


_N_EN = ("instruction instructions directions directives rules rule guidelines guidance constraints prompt prompts "
         "policy policies restrictions orders commands safeguards guardrails limitations programming training "
         "configuration ones system content safety ethical preprompt initial")
_N_FR = ("instructions consignes regles directives indications ordres restrictions limites prompt contraintes message "
         "invite politique garde")
_N_ES = ("instrucciones instruccion indicaciones reglas directrices normas consignas ordenes restricciones "
         "limitaciones directivas pautas prompt mensaje politica")
_N_IT = ("istruzioni indicazioni regole direttive linee consegne ordini restrizioni limitazioni vincoli prompt "
         "messaggio policy")
_N_DE = ("anweisung anweisungen systemanweisungen vorgaben regeln richtlinien instruktionen befehle einschrankungen "
         "anordnungen direktiven prompt prompts programmierung vorschriften systemnachricht systemprompt system "
         "sicherheitsrichtlinien inhaltsrichtlinien")


def _dismiss(verb: str, pre: str, noun: str, post: str, strong: str) -> tuple[str, ...]:
    return (
        rf"\b{verb}\W+{gap(3)}{pre}\W+{gap(3)}{noun}\b",
        rf"\b{verb}\W+{gap(3)}{noun}\W+{gap(2)}{post}",
        rf"\b{verb}\W+{gap(2)}{strong}",
    )


RULES: tuple[Rule, ...] = (
    rule("override.dismiss", CATEGORY, 0.9,
         on(f"{_A_EN} | {_N_EN}", *_dismiss(_V_EN, _Q_EN, _O_EN, _POST_EN, _O_STRONG_EN)),
         on(f"{_A_FR} | {_N_FR}", *_dismiss(_V_FR, _PRE_FR, _O_FR, _POST_FR, _O_STRONG_FR)),
         on(f"{_A_ES} | {_N_ES}", *_dismiss(_V_ES, _PRE_ES, _O_ES, _POST_ES, _O_STRONG_ES)),
         on(f"{_A_IT} | {_N_IT}", *_dismiss(_V_IT, _PRE_IT, _O_IT, _POST_IT, _O_STRONG_IT)),
         on(f"{_A_DE} | {_N_DE}", *_dismiss(_V_DE, _Q_DE, _O_DE, _POST_DE, _O_STRONG_DE)),
         damping=Q),
    rule("override.forget_all_told", CATEGORY, 0.85,
         on(_A_EN, rf"\b{_V_EN}\W+(?:about\W+)?(?:everything|anything|all|whatever)\W+(?:that\W+)?(?:you|you've|they"
            rf"|the\W+(?:developer|system|admin\w*|operator|company))\W+{gap(2)}"
            r"(?:told|said|given|taught|instructed|learned|learnt|received|programmed)"),
         on("oublie ignore", rf"\b(?:oubli|ignor)\w*\W+tout\W+(?:ce\W+)?(?:qu'on|que\W+l'on|qu'ils|que\W+le\W+\w+)\W+"
            rf"{gap(2)}(?:dit|donne|appris|recu|demande|ecrit)"),
         on("olvida ignora", rf"\b(?:olvid|ignor)\w*\W+todo\W+lo\W+que\W+(?:te\W+)?{gap(1)}"
            r"(?:dijeron|han\W+dicho|dijo|ensenaron|dieron|indicaron|ordenaron)"),
         on("dimentica ignora",
            r"\b(?:dimentica|ignora)\w*\W+tutto\W+(?:quello|cio|quanto)\W+che\W+ti\W+(?:e|sono|hanno|ha)\W+"),
         on("vergiss ignorier", rf"\b(?:vergiss|ignorier\w*)\W+alles\W+(?:was|das)\W+(?:dir|man\W+dir)\W+{gap(4)}"
            r"(?:gesagt|gegeben|beigebracht|aufgetragen|befohlen|erklart)\W+(?:wurde|hat|haben|worden)"),
         damping=Q),
    rule("override.everything_above", CATEGORY, 0.85,
         on(_A_EN, rf"\b{_V_EN}\W+(?:about\W+)?(?:everything|anything)\W+(?:that\W+(?:was|is|came)\W+)?(?:written\W+)?"
            r"(?:above|before|prior|previous|earlier|so\W+far)\b",
            rf"\b{_V_EN}\W+all\W+(?:of\W+)?(?:the\W+)?(?:text\W+)?above\b"),
         on("oublie ignore", r"\b(?:oubli|ignor)\w*\W+tout\W+ce\W+qui\W+(?:precede|est\W+(?:au-dessus|plus\W+haut"
            r"|ecrit\W+avant)|se\W+trouve\W+(?:au-dessus|avant))"),
         on("ignora olvida", r"\b(?:ignor|olvid)\w*\W+todo\W+lo\W+(?:anterior|previo|de\W+arriba|que\W+hay\W+arriba)"),
         on("ignora dimentica",
            r"\b(?:ignora|dimentica)\w*\W+tutto\W+(?:(?:quello|cio)\W+che\W+(?:c'e\W+|e\W+scritto\W+)?"
            r"(?:sopra|prima)|cio\W+che\W+precede)"),
         on("ignorier vergiss",
            r"\b(?:ignorier\w*|vergiss)\W+alles\W+(?:was\W+)?(?:oben\W+steht|davor|bisher|vorher|zuvor)"),
         damping=Q),
    rule("override.everything_cancelled", CATEGORY, 0.8,
         on("told given instructed said | void null revoked cancelled canceled obsolete invalid longer lifted disabled "
            "suspended deprecated overridden superseded expired deactivated",
            rf"\b(?:everything|all|anything|whatever)\W+(?:that\W+)?you\W+(?:were|have\W+been|'ve\W+been)\W+"
            rf"(?:told|given|instructed|said)\W+{gap(6)}(?:is|was|are|has\W+been)\W+(?:now\W+|hereby\W+)?{_VOID}"),
         damping=Q),
    rule("override.vocative", CATEGORY, 0.6,
         on("ai assistant model chatbot llm bot gpt | ignore disregard forget",
            r"\b(?:ai|assistant|model|chatbot|llm|bot|gpt)\W*[,:]\W*(?:please\W+)?(?:ignore|disregard|forget)\b",
            r"\b(?:ignore|disregard|forget)\W+(?:the\W+)?user'?s\W+(?:question|request|instructions?|message|prompt)\b"),
         damping=Q),
    rule("override.stop_following", CATEGORY, 0.85,
         on("follow obey comply adhere listen respect abide apply",
            r"\b(?:do\W+not|don't|dont|stop|no\W+longer|never|quit|cease(?:\W+to)?)\W+(?:\w+\W+)?"
            r"(?:follow|obey|comply\W+with|adhere\W+to|listen\W+to|respect|abide\W+by|apply)\w*\W+"
            rf"{gap(2)}(?:{_Q_EN}\W+{gap(2)}{_O_EN}\b|{_O_STRONG_EN})"),
         on("befolge beachte gehorche folge halte halt",
            rf"\b(?:befolg|beacht|gehorch|folg|halt)\w*\W+{gap(3)}{_O_DE}\W+{gap(6)}(?:nicht\W+mehr|nie\W+wieder)",
            rf"\bhalte?\W+dich\W+(?:nicht|nie)\W+mehr\W+an\W+{gap(2)}{_O_DE}"),
         on("ausser hinweg",
            rf"\bsetze?\W+{gap(3)}{_O_DE}\W+{gap(2)}ausser\W+kraft",
            rf"\bsetze?\W+dich\W+uber\W+{gap(3)}{_O_DE}\W+{gap(3)}hinweg"),
         damping=Q),
    rule("override.supersede", CATEGORY, 0.85,
         on("supersede override overrule replace cancel invalidate precedence trump",
            r"\b(?:new|these|my|following|updated)\W+(?:instructions?|rules|directives|orders|guidelines)\W+"
            r"(?:will\W+|now\W+|hereby\W+|shall\W+)?(?:supersede|override|overrule|replace|cancel|invalidate"
            r"|take\W+precedence\W+over|trump)s?"
            rf"\W+{gap(2)}(?:previous|prior|earlier|former|original|initial|old|other|existing|system|all)\b"),
         on("remplacent annulent priment ecrasent supplantent",
            rf"\b(?:nouvelles?|ces)\W+(?:instructions|consignes|regles|directives)\W+{gap(2)}"
            rf"(?:remplacent|annulent|priment\W+sur|ecrasent|supplantent)\W+{gap(2)}"
            r"(?:precedentes|anciennes|instructions|consignes|regles|autres)"),
         on("reemplazan sustituyen anulan prevalecen invalidan",
            rf"\b(?:nuevas?|estas)\W+(?:instrucciones|reglas|ordenes|directrices)\W+{gap(2)}"
            rf"(?:reemplazan|sustituyen|anulan|prevalecen\W+sobre|invalidan)\W+{gap(3)}"
            r"(?:anteriores|previas|instrucciones|reglas|demas)"),
         on("sostituiscono annullano prevalgono invalidano",
            rf"\b(?:nuove|queste)\W+(?:istruzioni|regole|direttive)\W+{gap(2)}"
            rf"(?:sostituiscono|annullano|prevalgono\W+su|invalidano)\W+{gap(3)}"
            r"(?:precedenti|vecchie|istruzioni|regole|altre)"),
         on("ersetzen uberschreiben annullieren vorrang",
            rf"\b(?:neuen?|diese)\W+(?:anweisungen|regeln|befehle|vorgaben)\W+{gap(2)}"
            rf"(?:ersetzen|uberschreiben|annullieren|haben\W+vorrang\W+vor)\W+{gap(2)}"
            r"(?:fruheren|bisherigen|vorherigen|alten|alle|anderen)"),
         damping=Q),
    rule("override.void", CATEGORY, 0.8,
         on("void null revoked cancelled canceled obsolete invalid longer lifted disabled suspended deprecated "
            f"overridden superseded expired deactivated | {_N_EN}",
            rf"\b{_Q_EN}\W+{gap(1)}{_O_EN}\W+{gap(4)}(?:are|is|have\W+been|has\W+been|were|was)\W+"
            rf"(?:now\W+|hereby\W+|officially\W+)?{_VOID}",
            rf"\b{_O_EN}\W+(?:that\W+)?you\W+{gap(2)}(?:received|were\W+given|got|had)\W+{gap(2)}"
            rf"(?:are|is|were|have\W+been)\W+(?:now\W+|hereby\W+)?{_VOID}"),
         damping=Q),
    rule("override.no_longer_applies", CATEGORY, 0.8,
         on(f"longer | {_N_EN}",
            rf"\b{_Q_EN}\W+{gap(1)}{_O_EN}\W+(?:\w+\W+)?no\W+longer\W+(?:applies|apply|count|counts|matter|matters"
            r"|holds?|binds?|stands?)\b"),
         damping=Q),
    rule("override.put_aside", CATEGORY, 0.85,
         on(f"aside side behind | {_N_EN}",
            rf"\b(?:put|set|leave|lay|push)\W+{gap(3)}{_Q_EN}\W+{gap(3)}{_O_EN}\W+{gap(6)}"
            r"(?:aside|to\W+(?:one|the)\W+side|behind\W+(?:you|us))"),
         damping=Q),
    rule("override.void_other", CATEGORY, 0.6,
         on("nulles annulees revoquees caduques obsoletes invalides abrogees levees suspendues",
            rf"\b(?:instructions|consignes|regles|directives)\W+{gap(6)}(?:sont|ont\W+ete)\W+(?:desormais\W+|"
            r"maintenant\W+)?(?:nulles|annulees|revoquees|caduques|obsoletes|invalides|abrogees|levees|suspendues)"),
         on("validas valen anuladas nulas revocadas efecto",
            rf"\b(?:instrucciones|reglas|directrices|ordenes)\W+{gap(5)}(?:ya\W+no\W+son\W+validas|ya\W+no\W+valen"
            r"|quedan\W+anuladas|son\W+nulas|han\W+sido\W+(?:revocadas|anuladas)|quedan\W+sin\W+efecto)"),
         on("valide valgono annullate revocate nulle decadute",
            rf"\b(?:istruzioni|regole|direttive)\W+{gap(5)}(?:non\W+sono\W+piu\W+valide|non\W+valgono\W+piu"
            r"|sono\W+(?:state\W+)?(?:annullate|revocate|nulle|decadute))"),
         on("ungultig aufgehoben widerrufen nichtig deaktiviert veraltet",
            rf"\b(?:anweisungen|regeln|vorgaben|befehle)\W+{gap(6)}(?:sind|wurden)\W+"
            r"(?:jetzt\W+|hiermit\W+|ab\W+sofort\W+)?(?:ungultig|aufgehoben|widerrufen|nichtig|deaktiviert|veraltet)"),
         damping=Q),
    rule("override.obey_only_me", CATEGORY, 0.5,
         on("obey listen follow answer orders | me",
            r"\bonly\W+(?:obey|listen\W+to|follow|answer\W+to|take\W+orders\W+from)\W+me\b",
            r"\b(?:obey|listen\W+to|answer\W+to|take\W+orders\W+from)\W+(?:only\W+)?me\W+(?:alone|only)\b"),
         on("operator master admin administrator owner creator developer boss | your",
            r"\bi\W*(?:am|'m)\W+(?:now\W+)?your\W+(?:only|new|real|true|sole)\W+"
            r"(?:operator|master|admin|administrator|owner|creator|developer|boss)\b"),
         on("obeis obeir operateur maitre administrateur createur",
            r"\bobei\w*\W+(?:seulement|uniquement)\W+a\W+moi|\bn'obei\w*\W+qu'a\W+moi",
            r"\bje\W+suis\W+(?:desormais\W+|maintenant\W+)?ton\W+(?:seul|nouvel?|vrai)\W+"
            r"(?:operateur|maitre|administrateur|createur)"),
         on("obedeces obedeceme operador amo administrador creador",
            r"\b(?:solo\W+me\W+obedeces|me\W+obedeces\W+solo|obedeceme\W+solo)\b",
            r"\byo\W+soy\W+tu\W+(?:unico|nuevo|verdadero)\W+(?:operador|amo|administrador|creador)"),
         on("obbedisci operatore padrone amministratore",
            r"\bobbedisci\W+solo\W+a\W+me\b",
            r"\bsono\W+io\W+il\W+tuo\W+(?:unico|nuovo|vero)\W+(?:operatore|padrone|amministratore)"),
         on("gehorchst gehorche operator meister administrator herr entwickler",
            r"\b(?:gehorchst\W+du|gehorche)\W+nur\W+(?:noch\W+)?mir\b",
            r"\bich\W+bin\W+(?:jetzt\W+)?dein\W+(?:einziger|neuer)\W+(?:operator|meister|administrator|herr|entwickler)"),
         damping=Q),
    rule("override.comply_all", CATEGORY, 0.6,
         on("comply obey fulfil fulfill accept execute answer respond reply",
            r"\b(?:must|will|shall|have\W+to|need\W+to)\W+(?:comply\W+with|obey|fulfil+|accept|execute)\W+"
            r"(?:every|all|any)\W+(?:requests?|commands?|orders?|instructions?|demands?)",
            r"\bcomply\W+with\W+(?:every|all|any)\W+(?:requests?|commands?|orders?|demands?)",
            r"\b(?:answer|respond\W+to|reply\W+to)\W+(?:every|all|any)\W+(?:questions?|requests?|prompts?)\W+(?:\w+\W+)?"
            r"without\W+(?:any\W+)?(?:filter\w*|restrictions?|censor\w*|exceptions?|refus\w*)"),
         on("accepter executer obeir obeis satisfaire",
            r"\b(?:accepter|executer|obeir\W+a|satisfaire)\W+(?:chaque|toute|toutes\W+les)\W+(?:demandes?|requetes?|ordres?)",
            r"\bobei\w*\W+a\W+toutes\W+(?:ses|mes|les)\W+(?:demandes|ordres)"),
         on("aceptar cumplir obedecer ejecutar",
            r"\b(?:aceptar|cumplir|obedecer|ejecutar)\W+(?:cualquier|toda|todas\W+las)\W+"
            r"(?:peticion|peticiones|orden|ordenes|solicitud)"),
         on("accettare eseguire obbedire soddisfare",
            r"\b(?:accettare|eseguire|obbedire\W+a|soddisfare)\W+(?:ogni|qualsiasi|tutte\W+le)\W+(?:richiest[ae]|ordin[ei])"),
         on("erfulle erfullen befolge akzeptiere",
            r"\b(?:erfulle|erfullen|befolge|akzeptiere)\W+(?:jede|alle)\W+(?:anfragen?|befehle|bitten?|forderungen?)"),
         damping=Q),
    rule("override.new_task", CATEGORY, 0.4,
         on("task job mission purpose goal objective instructions instruction",
            r"\byour\W+(?:new|real|actual|true)\W+(?:task|job|mission|purpose|goal|objective|instructions?)\W+"
            r"(?:is|are|will\W+be)\b"),
         on("mission tache", r"\bta\W+(?:nouvelle|vraie|veritable)\W+(?:mission|tache)\W+(?:est|sera)\b"),
         on("tarea mision", r"\btu\W+(?:nueva|verdadera)\W+(?:tarea|mision)\W+es\b"),
         on("compito", r"\bil\W+tuo\W+(?:nuovo|vero)\W+compito\W+e\b"),
         on("aufgabe", r"\bdeine\W+(?:neue|eigentliche|wahre)\W+aufgabe\W+(?:ist|lautet)\b")),
    rule("override.system_claim", CATEGORY, 0.35,
         on("update mise actualizacion aggiornamento",
            r"\bsystem\W+update\b|\bmise\W+a\W+jour\W+du\W+systeme\b|\bactualizacion\W+del\W+sistema\b"
            r"|\baggiornamento\W+di\W+sistema\b|\bsystem-?update\b")),
    rule("override.system_override", CATEGORY, 0.6,
         on("override", r"\b(?:system|admin|administrator|security|developer|emergency|root)\W+override\b")),
    rule("override.third_person", CATEGORY, 0.6,
         on("assistant ai model chatbot bot llm | ignore disregard forget",
            r"\b(?:the\W+)?(?:assistant|ai|model|chatbot|bot|llm)\W+(?:must|should|shall|will|is\W+to|has\W+to|needs\W+to)"
            r"\W+(?:now\W+|immediately\W+|from\W+now\W+on\W+)?(?:ignore|disregard|forget)\b"),
         damping=Q),
    rule("override.instead", CATEGORY, 0.45,
         on("ignore disregard forget skip | instead",
            rf"\b(?:ignore|disregard|forget|skip)\W+{gap(4)}(?:and\W+)?(?:instead|rather)\b"),
         damping=Q),
    rule("override.unfiltered_answer", CATEGORY, 0.6,
         on("answer answering respond reply talk speak",
            rf"\b(?:answer|respond|reply)\w*\W+{gap(3)}without\W+(?:any\W+|your\W+(?:usual\W+)?)"
            r"(?:filters?|filtering|restrictions|limitations|limits|rules|guidelines|censorship|safety\W+\w+)"),
         on("answer answering respond reply talk speak",
            r"\b(?:answer|respond|reply|talk|speak)\w*\W+(?:to\W+)?(?:every|all|any|everything)\w*\W+(?:\w+\W+){0,2}?"
            r"(?:without|with\W+no)\W+(?:any\W+)?(?:filter\w*|restrictions?|censor\w*|moderation|safety|rules)"),
         on("reponds repondre",
            rf"\b(?:reponds?|repondre)\W+a\W+tout\W+{gap(1)}sans\W+(?:aucun\W+)?(?:filtre|restriction|censure|limite)"),
         on("respondes responde responder",
            rf"\b(?:respondes|responde|responder)\W+a\W+todo\W+{gap(1)}sin\W+(?:ningun\W+)?"
            r"(?:filtro|restriccion|censura|limite)"),
         on("rispondi rispondere",
            rf"\b(?:rispondi|rispondere)\W+a\W+tutto\W+{gap(1)}senza\W+(?:alcun\W+)?(?:filtr|restrizion|censur|limit)\w*"),
         on("beantwortest beantworte antwortest antworte",
            rf"\b(?:beantwortest|beantworte|antwortest|antworte)\W+{gap(2)}(?:alles|jede\W+frage)\W+{gap(1)}ohne\W+"
            r"(?:jeden\W+)?(?:filter|einschrankung\w*|zensur|grenzen)"),
    ),
)
