"""System-prompt extraction: "print your system prompt", "répète ton prompt système"...

The target must be the model's own prompt ("your system prompt", "the hidden instructions", "the text
before my first message"): "write a system prompt for my bot" or "explain what a system prompt is" name
no one's prompt in particular.
"""

from __future__ import annotations

from serve_app.guardrails.rule import Damping, Rule, gap, on, one_of, rule

CATEGORY = "system_prompt_extraction"
Q = Damping.QUOTED

_V_EN = one_of("reveal", "print", "show", "display", "output", "repeat", "recite", "dump", "leak", "expose",
               "disclose", r"spell\W+out", "paste", "echo", "copy", "return", r"write\W+(?:out|down)", "translate",
               "summari[sz]e", "encode", "extract", r"what\W+(?:is|are|were|was)", "what's", "provide", "share",
               r"give\W+me", r"tell\W+me", "list", "type", r"begin\W+with", r"start\W+with", "include")
_PROMPT_EN = one_of(r"system\W+(?:prompt|message|instructions?)", r"sys\W*prompt", r"pre-?prompt", r"meta-?prompt",
                    r"(?:initial|original|hidden|secret|configuration|developer|starting|base|full|first)\W+"
                    r"(?:prompt|instructions?|message|rules)", r"prompt\W+template")
_YOUR_EN = r"(?:your|the\W+(?:hidden|secret|full|exact|entire|complete|real|confidential|above))"
_HIDDEN_EN = (r"the\W+(?:hidden|initial|original|secret|confidential|internal)\W+(?:\w+\W+)?"
              r"(?:prompt|instructions|rules|guidelines)")

_V_FR = r"(?:" + one_of(r"repete\w*", r"affiche\w*", r"montre\w*", r"revele\w*", r"devoile\w*", r"donne\w*",
                        r"ecri[st]\w*", r"recopie\w*", r"copie\w*", r"imprime\w*", r"tradui\w*", r"divulgue\w*",
                        r"dis", r"cite\w*", r"liste\w*", r"quel(?:le)?s?\W+(?:est|sont|etai(?:en)?t)") + r")(?:-moi)?"
_T_FR = one_of(rf"(?:ton|votre|le|ta)\W+{gap(1)}(?:prompt|message|invite)\W+(?:du\W+)?"
               r"(?:systeme|initial|d'origine|cache)",
               rf"(?:tes|vos)\W+{gap(1)}(?:instructions|consignes|regles|directives)\b(?!\W+(?:pour|de\W+cuisine))",
               r"(?:les|des)\W+(?:instructions|consignes|regles)\W+(?:systeme|cachees|initiales|secretes|d'origine"
               r"|que\W+tu\W+as\W+recues|qu'on\W+t'a\W+donnees|recues)",
               r"ta\W+configuration",
               r"tout\W+ce\W+qui\W+(?:se\W+trouve|est\W+ecrit|precede|vient)\W+avant\W+mon\W+premier\W+message")

_V_ES = one_of(r"repite\w*", r"muestra\w*", r"ensena\w*", r"revela\w*", r"dime", r"escribe\w*", r"copia\w*",
               r"imprime\w*", r"traduce\w*", r"divulga\w*", r"dame", r"cual\W+(?:es|son|era|eran)")
_T_ES = one_of(r"(?:tu|el)\W+(?:prompt|mensaje|aviso)\W+(?:del?\W+)?(?:sistema|inicial|original|oculto)",
               rf"tus\W+{gap(1)}(?:instrucciones|reglas|directrices|indicaciones|consignas)\b(?!\W+(?:para|de\W+cocina))",
               r"las\W+(?:instrucciones|reglas|directrices)\W+(?:del\W+sistema|ocultas|iniciales|originales|secretas"
               r"|que\W+(?:te\W+dieron|recibiste))",
               r"tu\W+configuracion",
               r"todo\W+lo\W+que\W+(?:aparece|hay|esta\W+escrito|viene)\W+antes\W+de\W+mi\W+primer\W+mensaje")

_V_IT = one_of(r"ripeti\w*", r"mostra\w*", r"rivela\w*", r"dimmi", r"scrivi\w*", r"copia\w*", r"stampa\w*",
               r"traduci\w*", r"divulga\w*", r"dammi", r"qual\W+e", r"quali\W+sono")
_T_IT = one_of(r"(?:il\W+)?tuo\W+(?:prompt|messaggio)\W+(?:di\W+sistema|iniziale|originale|nascosto)",
               rf"(?:le\W+)?tue\W+{gap(1)}(?:istruzioni|regole|direttive|indicazioni)\b(?!\W+(?:per|di\W+cucina))",
               r"le\W+(?:istruzioni|regole|direttive)\W+(?:di\W+sistema|nascoste|iniziali|originali|segrete"
               r"|che\W+(?:ti\W+(?:sono\W+state\W+date|ha\W+dato|hanno\W+dato)|hai\W+ricevuto))",
               r"la\W+tua\W+configurazione",
               r"tutto\W+(?:quello|cio)\W+che\W+(?:c'e|e\W+scritto|viene|compare)\W+prima\W+del\W+mio\W+primo\W+messaggio")

_V_DE = one_of(r"wiederhol\w*", r"zeig\w*", r"verrat\w*", r"gib", r"schreib\w*", r"kopier\w*", r"druck\w*",
               r"ubersetz\w*", r"nenn\w*", r"wie\W+lautet", r"wie\W+lauten", r"was\W+(?:ist|sind)", r"offenbar\w*",
               r"list\w*", r"ausgeben", r"gib\W+\w+\W+aus")
_T_DE = one_of(rf"dein(?:en|er|em|e)?\W+{gap(1)}(?:system-?prompt|system-?nachricht|systemanweisungen?|system\W+prompt"
               r"|ausgangsprompt|initialprompt|prompt)\b",
               rf"deine\W+{gap(1)}(?:anweisungen|regeln|richtlinien|vorgaben|instruktionen|konfiguration)\b(?!\W+(?:fur|zum))",
               r"die\W+(?:versteckten|geheimen|ursprunglichen|anfanglichen|internen)\W+(?:anweisungen|regeln|vorgaben)",
               rf"(?:system)?(?:anweisungen|regeln|vorgaben)\W+die\W+du\W+{gap(4)}(?:bekommen|erhalten)",
               r"alles\W+was\W+vor\W+meiner\W+ersten\W+nachricht")

RULES: tuple[Rule, ...] = (
    rule("extraction.system_prompt", CATEGORY, 0.85,
         on("prompt sysprompt preprompt metaprompt instructions instruction message rules guidelines template",
            rf"\b{_V_EN}\W+{gap(3)}{_YOUR_EN}\W+{gap(2)}{_PROMPT_EN}", rf"\b{_V_EN}\W+{gap(3)}{_HIDDEN_EN}\b"),
         on("prompt message invite instructions consignes regles directives configuration premier",
            rf"\b{_V_FR}\W+{gap(4)}{_T_FR}"),
         on("prompt mensaje aviso instrucciones reglas directrices indicaciones consignas configuracion primer",
            rf"\b{_V_ES}\W+{gap(4)}{_T_ES}"),
         on("prompt messaggio istruzioni regole direttive indicazioni configurazione primo",
            rf"\b{_V_IT}\W+{gap(4)}{_T_IT}"),
         on("system systemprompt systemnachricht systemanweisungen ausgangsprompt initialprompt prompt anweisungen "
            "regeln richtlinien vorgaben instruktionen konfiguration ersten",
            rf"\b{_V_DE}\W+{gap(4)}{_T_DE}"),
         damping=Q),
    rule("extraction.imperative", CATEGORY, 0.75,
         on("reveal print output repeat recite dump leak disclose show display paste echo | prompt message above",
            r"(?:^|[.!?:;\n]\W*|\bplease\W+|\bnow\W+|\bjust\W+|\band\W+(?:then\W+)?)(?:reveal|print|output|repeat|recite"
            r"|dump|leak|disclose|show|display|paste|echo)\W+(?:me\W+)?the\W+(?:system\W+(?:prompt|message)|prompt\W+above)"),
         damping=Q),
    rule("extraction.your_instructions", CATEGORY, 0.7,
         on("instructions prompt rules guidelines directives configuration context | reveal print output repeat recite "
            "dump leak expose disclose spell paste echo copy write translate show display",
            rf"\b(?:reveal|print|output|repeat|recite|dump|leak|expose|disclose|spell\W+out|paste|echo|copy|"
            rf"write\W+(?:out|down)|translate|show|display)\W+{gap(2)}your\W+{gap(1)}"
            r"(?:instructions|prompt|rules|guidelines|directives|configuration|context\W+window)\b"),
         damping=Q),
    rule("extraction.were_you_given", CATEGORY, 0.75,
         on("rules instructions guidelines prompt directives | given told configured programmed gave",
            r"\b(?:what|which)\W+(?:\w+\W+)?(?:rules|instructions|guidelines|prompt|directives)\W+(?:were|have)\W+you\W+"
            r"(?:been\W+)?(?:given|told|configured\W+with|programmed\W+with)",
            r"\b(?:the\W+)?(?:prompt|instructions|rules)\W+(?:i|we|they)\W+(?:configured|set\W+up|programmed|gave)\W+you\b"),
         damping=Q),
    rule("extraction.what_you_were_told", CATEGORY, 0.7,
         on("tell told instruct instructed say said give gave | developer developers creator creators company operator "
            "admin administrator system they openai",
            r"\bwhat\W+(?:did|have|has|were|was)\W+(?:the\W+|your\W+)?(?:developers?|creators?|company|operator"
            r"|admin\w*|system|they|openai)\W+(?:\w+\W+)?(?:tell|told|instruct|instructed|say|said|give|gave)\W+"
            r"(?:to\W+)?you\b"),
         damping=Q),
    rule("extraction.text_of_prompt", CATEGORY, 0.7,
         on("text content wording copy words | instructions prompt rules guidelines directives",
            r"\b(?:text|content|contents|wording|copy|words)\W+of\W+your\W+(?:\w+\W+)?"
            r"(?:instructions|prompt|rules|guidelines|directives)\b"),
         damping=Q),
    rule("extraction.text_before", CATEGORY, 0.8,
         on("above before prior",
            r"\b(?:text|words|content|everything|all|messages?|instructions|lines)\W+(?:that\W+)?(?:was\W+|is\W+)?"
            r"(?:written\W+|said\W+|given\W+|stated\W+|placed\W+)?(?:above|before|prior\W+to)\W+(?:this|my|the)\W+"
            r"(?:first\W+)?(?:message|line|prompt|question|conversation)",
            r"\b(?:repeat|print|output|recite|copy|echo)\W+(?:the\W+|all\W+(?:of\W+)?(?:the\W+)?)?"
            r"(?:text|words|content|lines|everything)\W+above\b(?:\W+\w+){0,6}?\W+(?:verbatim|word\W+for\W+word|"
            r"starting\W+with|exactly|including\W+everything|in\W+full)"),
         damping=Q),
    rule("extraction.instructions_received", CATEGORY, 0.8,
         on("received given configured programmed got set | instructions rules guidelines prompt directives",
            r"\b(?:what|which)\W+(?:were|are|was|is)\W+(?:the\W+|your\W+)?(?:exact\W+|full\W+|original\W+|initial\W+)?"
            r"(?:instructions|rules|guidelines|prompt)\W+(?:that\W+)?you\W+(?:received|were\W+given|got|were\W+"
            r"(?:configured|programmed|set\W+up)\W+with)",
            rf"\b{_V_EN}\W+{gap(2)}(?:instructions|rules|guidelines|prompt|directives)\W+(?:that\W+)?you\W+"
            r"(?:were\W+|have\W+been\W+|'ve\W+been\W+)?(?:given|configured|programmed|set\W+up|received|got)\b"),
         damping=Q),
    rule("extraction.configured_secret", CATEGORY, 0.6,
         on("api secret password passwords credentials access token tokens secrets | configured given provided using",
            r"\b(?:api\W+keys?|secret\W+keys?|passwords?|credentials|access\W+tokens?|secrets)\W+(?:that\W+)?(?:it|you)\W+"
            r"(?:was|were|has\W+been|have\W+been|is|are)\W+(?:\w+\W+)?(?:configured|given|provided|using|set\W+up)\b"),
         damping=Q),
    rule("extraction.secrets", CATEGORY, 0.5,
         on("api secret password passwords credentials access token tokens secrets",
            rf"\b(?:reveal|print|show|output|leak|tell\W+me|give\W+me|dump|disclose)\W+{gap(1)}your\W+{gap(1)}"
            r"(?:api\W+keys?|secret\W+keys?|passwords?|credentials|access\W+tokens?|secrets)\b"),
         damping=Q),
)
