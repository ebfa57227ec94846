"""Smuggling: chat-template tokens and fake turns, forged tool/JSON messages, instructions hidden in data.

Template tokens are dangerous whatever the intent: the engine renders the chat template and tokenizes the
result, so a literal ``<|im_start|>system`` in a user message can become a real turn. Role headers are
therefore always strong, even in a question about the format; a lone end-of-turn token inside inline code
(`` `<|eot_id|>` ``) is how people ask what it means, and is damped. These rules (``template=True``) are
the only ones applied to the application's own system and developer messages, where user data
interpolated into a system prompt can smuggle them too.
"""

from __future__ import annotations

from serve_app.guardrails.rule import Damping, Rule, always, gap, on, rule

TEMPLATE = "template_smuggling"
TOOL = "tool_smuggling"
INDIRECT = "indirect_injection"
OBFUSCATION = "obfuscation"

_ROLE = r"(?:system|assistant|user|developer|tool|ipython|model)"
_AI = ("ai assistant assistants llm llms language model models chatbot chatbots bot bots gpt ia modele asistente "
       "assistente assistent assistenten ki modell")

TEMPLATE_RULES: tuple[Rule, ...] = (
    rule("template.role_header", TEMPLATE, 0.95,
         always(rf"<\|im_start\|>\s*{_ROLE}", rf"<\|start_header_id\|>\s*{_ROLE}", rf"<\|{_ROLE}\|>",
                rf"<\|start\|>\s*{_ROLE}", r"<\|(?:channel|message|constrain)\|>",
                r"<<\s*/?\s*sys\s*>>", r"\[/?inst\]",
                r"\[/?(?:system_prompt|tool_calls|tool_results|available_tools)\]", r"<\|(?:start|end)_of_role\|>",
                rf"<start_of_turn>\s*{_ROLE}", r"<\|(?:begin|end)[▁_]of[▁_]sentence\|>"),
         template=True),
    rule("template.control_token", TEMPLATE, 0.6,
         always(r"<\|(?:im_end|im_sep|eot_id|eom_id|endoftext|end_of_text|begin_of_text|end|eos|bos|pad|python_tag"
                r"|end_of_turn|fim_\w+)\|>", r"<end_of_turn>|<eos>|<bos>", r"<\|[a-z0-9_▁.-]{2,40}\|>"),
         damping=Damping.BACKTICKS, template=True),
    rule("template.end_of_sequence", TEMPLATE, 0.4, always(r"</s>"), damping=Damping.BACKTICKS, template=True),
    rule("template.fake_header", TEMPLATE, 0.6,
         on("system systeme sistema instructions instruction prompt assistant asistente assistente assistent user "
            "utilisateur usuario utente benutzer nutzer human",
            r"(?:^|\n)\s*#{2,}\s*(?:system|systeme|sistema|instructions?|system\W?prompt|assistant|asistente|assistente"
            r"|assistent|user|utilisateur|usuario|utente|benutzer|nutzer|human)\s*:?\s*(?:\n|$)")),
    rule("template.fake_tag", TEMPLATE, 0.5,
         always(r"</?\s*(?:system|user|assistant|developer|sys|instructions?|human|im_start)\s*>")),
    rule("template.tag_switch", TEMPLATE, 0.9,
         always(r"</\s*(?:user|human|input|data|document)\s*>\s*<\s*(?:system|assistant|developer|instructions?)\s*>")),
    rule("template.turn_prefix", TEMPLATE, 0.3,
         on("system assistant human systeme sistema",
            r"(?:^|\n|[.!?]\s)\s*(?:system|assistant|human|systeme|sistema)\s*:")),
)

TOOL_RULES: tuple[Rule, ...] = (
    rule("tool.message_json", TOOL, 0.6,
         on("role", r"\{\s*[\"']role[\"']\s*:\s*[\"'](?:system|developer)[\"']\s*,\s*[\"']content[\"']\s*:"),
         damping=Damping.CODE),
    rule("tool.role_mention", TOOL, 0.3,
         on("role", r"[\"']?role[\"']?\s*[:=]\s*[\"']?(?:system|developer)\b"), damping=Damping.CODE),
    rule("tool.conversation_json", TOOL, 0.8,
         on("role", r"[\"']role[\"']\s*:\s*[\"'](?:system|developer|assistant|tool)[\"'][^{}]{0,2000}?\}\s*,?\s*\{\s*"
                    r"[\"']role[\"']\s*:"),
         damping=Damping.CODE),
    rule("tool.tool_calls_json", TOOL, 0.45,
         on("tool function", r"[\"'](?:tool_calls|function_call)[\"']\s*:\s*[\[{]"), damping=Damping.CODE),
    rule("tool.fake_result", TOOL, 0.3,
         on("function tool api plugin | result output response returned",
            r"\b(?:function|tool|api|plugin)\W+(?:result|output|response|returned)\s*:",
            r"\bhere\W+is\W+the\W+(?:api|tool|function)\W+(?:output|result|response)"),
         on("resultat resultado risultato ergebnis",
            r"\b(?:resultat|resultado|risultato|ergebnis)\W+(?:de\W+l'outil|de\W+la\W+herramienta|dello\W+strumento"
            r"|des\W+tools?)\s*:")),
    rule("tool.tool_tags", TOOL, 0.6,
         always(r"</?(?:tool_call|tool_response|function_call|function_response|tool_result)>")),
)

INDIRECT_RULES: tuple[Rule, ...] = (
    rule("indirect.note_to_ai", INDIRECT, 0.45,
         on("note notes message messages instruction notice reminder attention important warning reading processing "
            "summarizing summarising parsing seeing consigne nota hinweis nachricht anweisung"
            f" | {_AI}",
            r"\b(?:note|message|instruction|notice|reminder|attention|important|warning)s?\W+(?:to|for)\W+"
            r"(?:the\W+|any\W+|all\W+)?(?:ai|assistants?|llms?|language\W+models?|chatbots?|bots?|models?|gpt)\b",
            r"\b(?:ai|assistants?|llms?|language\W+models?|chatbots?|bots?)\W+(?:reading|processing|summari[sz]ing"
            r"|parsing|seeing)\W+this\b",
            r"\b(?:note|message|consigne)\W+(?:pour|a)\W+(?:l'assistant|l'ia|le\W+modele|le\W+chatbot)\b",
            r"\bnota\W+(?:para|per)\W+(?:el\W+asistente|la\W+ia|l'assistente|l'ia)\b",
            r"\b(?:hinweis|nachricht|anweisung)\W+(?:an|fur)\W+(?:die\W+ki|den\W+assistenten|das\W+modell)\b")),
    rule("indirect.assistant_new_instruction", INDIRECT, 0.7,
         on(f"new updated important additional real nouvelle nueva nuova neue | {_AI}",
            r"\b(?:assistant|ai|model|chatbot|bot|llm|ia|asistente|assistente|assistent|ki)\W+"
            r"(?:new|updated|important|additional|real|nouvelle|nueva|nuova|neue)\W+"
            r"(?:instructions?|tasks?|directives?|orders?|consignes?|instrucci\w+|istruzion\w+|anweisung\w*|aufgabe)\b")),
    rule("indirect.phish", INDIRECT, 0.45,
         on("password credit card pin social ssn cvv bank login credentials",
            r"\b(?:ask|request|prompt)\w*\W+(?:the\W+user|them|him|her|the\W+customer)\W+(?:for\W+|to\W+(?:enter|give"
            r"|provide|share|send|type)\W+)?(?:their\W+|his\W+|her\W+|the\W+)?(?:password|credit\W+card|card\W+number"
            r"|pin|social\W+security|ssn|cvv|bank\W+details|login|credentials)"),
         on("passe bancaire contrasena tarjeta password carta passwort kreditkarte kreditkarten kreditkartennummer",
            r"\b(?:demande|pide|chiedi|frage)\w*\W+(?:a\W+)?(?:l'utilisateur|al\W+usuario|all'utente|den\W+nutzer)\W+"
            rf"{gap(3)}(?:mot\W+de\W+passe|carte\W+bancaire|contrasena|tarjeta|password|carta|passwort|kreditkart\w*)"),
         on("send forward email transmit upload inoltra envia reenvia transfere sende leite",
            rf"\b(?:send|forward|email|transmit|upload|inoltra|envia|reenvia|transfere|sende|leite)\w*\W+{gap(3)}"
            r"(?:passwords?|credentials|e-?mails?|files|contacts|data|records|email)\W+(?:\w+\W+)?(?:to|a|an)\W+\S+@")),
)

OBFUSCATION_RULES: tuple[Rule, ...] = (
    rule("obfuscation.decode_and_obey", OBFUSCATION, 0.45,
         on("decode decoded decrypt decipher convert interpret "
            "| follow execute obey do apply run perform act carry comply",
            rf"\b(?:decode|decrypt|decipher|convert|interpret)\w*\W+{gap(4)}(?:and|then)\W+(?:\w+\W+)?"
            r"(?:follow|execute|obey|do|apply|run|perform|act\W+on|carry\W+out|comply)"),
         on("hex hexadecimal base binary encoded rot cipher | task instructions instruction orders mission command",
            r"\b(?:following|this|the)\W+(?:hex|hexadecimal|base64|binary|encoded|rot13|cipher)\w*\W+(?:\w+\W+){0,2}?"
            r"(?:is|are|contains)\W+your\W+(?:new\W+)?(?:task|instructions?|orders?|mission|command)"),
         on("decode decodes dechiffre decodifica dekodiere dekodier",
            rf"\b(?:decode|dechiffre|decodifica|dekodier)\w*\W+{gap(4)}(?:et|puis|y|e|ed|und)\W+(?:\w+\W+)?"
            r"(?:applique|execute|suis|obeis|fais|sigue|ejecuta|haz|cumple|esegui\w*|segui|applica|befolge|fuhre)"),
         on("hexadecimal esadecimale hex base | tache tarea compito aufgabe",
            r"\b(?:hexadecimal|esadecimale|hex|base64)\W+(?:\w+\W+){0,3}?(?:nouvelle\W+tache|nueva\W+tarea"
            r"|nuovo\W+compito|neue\W+aufgabe)",
            r"\b(?:nouvelle\W+tache|nueva\W+tarea|nuovo\W+compito|neue\W+aufgabe)\W+(?:\w+\W+){0,3}?"
            r"(?:hexadecimal|esadecimale|hex|base64)")),
)

# Letters-only phrases for spaced-out text squeezed together ("i g n o r e a l l ..." -> "ignoreall...").
COMPACT_RULES: tuple[Rule, ...] = (
    rule("compact.override", "instruction_override", 0.85,
         always(r"(?:ignore|disregard|forget)(?:all|the|your|any)*(?:previous|prior|above|earlier)?"
                r"(?:instructions|rules|directions)",
                r"(?:oublie|ignore)(?:toutes|tes|les)*(?:precedentes)?(?:instructions|consignes|regles)",
                r"(?:ignora|olvida)(?:todas|tus|las)*(?:instrucciones|reglas)",
                r"(?:ignora|dimentica)(?:tutte|le|tue)*(?:istruzioni|regole)",
                r"(?:ignoriere|vergiss)(?:alle|deine|die)*(?:vorherigen|bisherigen)?(?:anweisungen|regeln)"),
         compact=True),
    rule("compact.extraction", "system_prompt_extraction", 0.85,
         always(r"(?:reveal|print|show|repeat|output)(?:me)?(?:your|the)(?:system|initial|hidden)(?:prompt|instructions)",
                r"(?:repete|affiche|montre)(?:moi)?(?:ton|tes)(?:promptsysteme|instructions)"),
         compact=True),
    rule("compact.roleplay", "roleplay_jailbreak", 0.85,
         always(r"doanythingnow|(?:enable|activate)(?:the)?(?:developer|jailbreak|god)mode|youhavenorestrictions"),
         compact=True),
)
