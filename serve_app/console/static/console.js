// The console: a single page over the admin API, with the session cookie and its CSRF token.
// No framework, nothing from elsewhere; every string is in STRINGS (English and French); the DOM is built with
// text nodes only (no innerHTML), so nothing the API returns can run as markup.
"use strict";
(() => {
  const STRINGS = {
    en: {
      brand: "LLM platform · console", skip: "Skip to content", language: "Language", scope: "Organisation",
      all_organisations: "All organisations", signout: "Sign out", loading: "Loading…",
      nav_keys: "API keys", nav_usage: "Consumption", nav_budget: "Budget", nav_audit: "Audit log",
      nav_organisations: "Organisations", nav_status: "Status",
      signin_title: "Sign in to the console", signin_intro: "Administrators sign in with their organisation's own account (single sign-on).",
      signin_organisation: "Organisation identifier", signin_hint: "Given by your platform operator, e.g. org_acme.",
      signin_button: "Sign in with my organisation", signin_operator: "Platform operator?", signin_operator_link: "Sign in as an operator",
      session_ended: "Your session has ended. Please sign in again.",
      error_generic: "Something went wrong (HTTP {status}). Please try again.", error_network: "The platform cannot be reached. Check your connection and try again.",
      role_operator: "operator", role_organisation_admin: "organisation administrator",
      keys_title: "API keys", keys_new: "Create a key", keys_name: "Name", keys_rpm: "Requests per minute",
      keys_tpm: "Tokens per minute", keys_tpd: "Tokens per day", keys_cap: "Monthly spend cap (USD)",
      keys_models: "Allowed models", keys_models_hint: "Comma-separated model ids; empty: every model.",
      keys_unlimited: "empty: as the tier and contract allow", keys_create: "Create key", keys_empty: "No keys yet.",
      keys_id: "Id", keys_secret_hint: "Secret", keys_limits: "Limits", keys_created: "Created", keys_state: "State",
      keys_actions: "Actions", keys_active: "active", keys_revoked: "revoked", keys_rotate: "Rotate", keys_revoke: "Revoke",
      keys_edit: "Edit", keys_save: "Save", keys_edit_title: "Edit key {name}",
      secret_title: "The key's secret", secret_warning: "Copy it now: it is shown only once and cannot be shown again. Anyone with it can use your quota.",
      secret_copy: "Copy", secret_copied: "Copied to the clipboard.", secret_copy_failed: "Select the secret and copy it by hand.",
      close: "Close", cancel: "Cancel", confirm: "Confirm",
      rotate_title: "Rotate {name}?", rotate_text: "A new secret replaces the current one, which stops working at once. Applications must be given the new secret.",
      revoke_title: "Revoke {name}?", revoke_text: "The key stops working at once, for good. Its usage history stays.",
      usage_title: "Consumption", usage_group: "Group by", usage_key: "Key", usage_model: "Model", usage_day: "Day",
      usage_metric: "Chart", usage_from: "From", usage_to: "To", usage_csv: "Export CSV", usage_live: "Live, updated {time}",
      usage_requests: "Requests", usage_tokens: "Tokens", usage_prompt: "Prompt tokens", usage_completion: "Completion tokens",
      usage_audio: "Audio minutes", usage_cost: "Cost (USD)", usage_empty: "No consumption in this period.",
      usage_chart: "{metric} by {group}",
      budget_title: "Budget", budget_choose: "Choose an organisation above to see its budget.", budget_monthly: "Monthly budget",
      budget_spent: "Spent this month", budget_remaining: "Remaining", budget_none: "no budget set",
      budget_alerts: "Alerts", budget_thresholds: "Alert thresholds (% of the budget)", budget_thresholds_hint: "Comma-separated, e.g. 50, 80, 100.",
      budget_webhook: "Webhook URL", budget_webhook_hint: "Each alert is sent there as JSON (POST); empty: no webhook.",
      budget_save: "Save alerts", budget_saved: "Alerts saved.", budget_fired: "Alerts sent this month",
      budget_fired_none: "None yet.", budget_threshold_fired: "{percent}% reached on {date}",
      audit_title: "Audit log", audit_when: "When", audit_who: "Who", audit_action: "Action", audit_target: "On",
      audit_from: "From", audit_more: "Older entries", audit_empty: "No entries.",
      orgs_title: "Organisations", orgs_new: "New organisation", orgs_id: "Identifier", orgs_id_hint: "org_ then lowercase letters, digits, _ or -; empty: random.",
      orgs_name: "Name", orgs_tier: "Tier", orgs_budget: "Monthly budget (USD)", orgs_contract: "Contract (organisation-wide limits)",
      orgs_sso: "Single sign-on (OpenID Connect)", orgs_issuer: "Issuer URL", orgs_client_id: "Client id",
      orgs_client_secret: "Client secret", orgs_client_secret_hint: "Empty: a public client (PKCE), or keep the current one.",
      orgs_domains: "Allowed e-mail domains", orgs_domains_hint: "Comma-separated; empty: any.",
      orgs_group_claim: "Group claim", orgs_group_value: "Group value", orgs_mfa: "Require multi-factor authentication",
      orgs_signin_link: "Sign-in link", orgs_edit_title: "Edit {name}", orgs_save: "Save", orgs_empty: "No organisations.",
      orgs_mfa_short: "MFA", yes: "yes", no: "no", orgs_alerts: "Budget alerts",
      status_title: "Status", status_incidents: "Incidents (last days)", status_no_incidents: "No incidents.",
      status_update: "Post an update", status_message: "Message", status_state: "Status", status_post: "Post",
      status_maintenance: "Maintenance windows", status_no_maintenance: "No maintenance scheduled.",
      status_new_maintenance: "Schedule maintenance", status_title_field: "Title", status_models: "Models",
      status_models_hint: "Comma-separated ids; empty: every model.", status_starts: "Starts", status_ends: "Ends",
      status_schedule: "Schedule", status_end: "End now", status_open: "open", status_resolved: "resolved",
      status_incident_title: "Public title", status_save_title: "Save title", status_everything: "every model",
      state_investigating: "investigating", state_identified: "identified", state_monitoring: "monitoring",
      state_update: "update", state_resolved: "resolved", state_scheduled: "scheduled", state_active: "in progress",
      state_done: "done",
      saved: "Saved.",
    },
    fr: {
      brand: "Plateforme LLM · console", skip: "Aller au contenu", language: "Langue", scope: "Organisation",
      all_organisations: "Toutes les organisations", signout: "Se déconnecter", loading: "Chargement…",
      nav_keys: "Clés d'API", nav_usage: "Consommation", nav_budget: "Budget", nav_audit: "Journal d'audit",
      nav_organisations: "Organisations", nav_status: "État du service",
      signin_title: "Connexion à la console", signin_intro: "Les administrateurs se connectent avec le compte de leur organisation (authentification unique).",
      signin_organisation: "Identifiant de l'organisation", signin_hint: "Fourni par l'opérateur de la plateforme, par ex. org_acme.",
      signin_button: "Me connecter avec mon organisation", signin_operator: "Opérateur de la plateforme ?", signin_operator_link: "Connexion opérateur",
      session_ended: "Votre session a pris fin. Veuillez vous reconnecter.",
      error_generic: "Une erreur s'est produite (HTTP {status}). Veuillez réessayer.", error_network: "La plateforme est injoignable. Vérifiez votre connexion et réessayez.",
      role_operator: "opérateur", role_organisation_admin: "administrateur de l'organisation",
      keys_title: "Clés d'API", keys_new: "Créer une clé", keys_name: "Nom", keys_rpm: "Requêtes par minute",
      keys_tpm: "Jetons par minute", keys_tpd: "Jetons par jour", keys_cap: "Plafond de dépense mensuel (USD)",
      keys_models: "Modèles autorisés", keys_models_hint: "Identifiants séparés par des virgules ; vide : tous les modèles.",
      keys_unlimited: "vide : selon l'offre et le contrat", keys_create: "Créer la clé", keys_empty: "Aucune clé pour l'instant.",
      keys_id: "Identifiant", keys_secret_hint: "Secret", keys_limits: "Limites", keys_created: "Créée le", keys_state: "État",
      keys_actions: "Actions", keys_active: "active", keys_revoked: "révoquée", keys_rotate: "Renouveler", keys_revoke: "Révoquer",
      keys_edit: "Modifier", keys_save: "Enregistrer", keys_edit_title: "Modifier la clé {name}",
      secret_title: "Secret de la clé", secret_warning: "Copiez-le maintenant : il n'est affiché qu'une fois et ne pourra plus l'être. Quiconque le détient peut consommer votre quota.",
      secret_copy: "Copier", secret_copied: "Copié dans le presse-papiers.", secret_copy_failed: "Sélectionnez le secret et copiez-le à la main.",
      close: "Fermer", cancel: "Annuler", confirm: "Confirmer",
      rotate_title: "Renouveler {name} ?", rotate_text: "Un nouveau secret remplace l'actuel, qui cesse aussitôt de fonctionner. Les applications devront recevoir le nouveau secret.",
      revoke_title: "Révoquer {name} ?", revoke_text: "La clé cesse aussitôt de fonctionner, définitivement. Son historique de consommation est conservé.",
      usage_title: "Consommation", usage_group: "Regrouper par", usage_key: "Clé", usage_model: "Modèle", usage_day: "Jour",
      usage_metric: "Graphique", usage_from: "Du", usage_to: "Au", usage_csv: "Exporter en CSV", usage_live: "En direct, mis à jour à {time}",
      usage_requests: "Requêtes", usage_tokens: "Jetons", usage_prompt: "Jetons en entrée", usage_completion: "Jetons générés",
      usage_audio: "Minutes d'audio", usage_cost: "Coût (USD)", usage_empty: "Aucune consommation sur cette période.",
      usage_chart: "{metric} par {group}",
      budget_title: "Budget", budget_choose: "Choisissez une organisation ci-dessus pour voir son budget.", budget_monthly: "Budget mensuel",
      budget_spent: "Dépensé ce mois-ci", budget_remaining: "Restant", budget_none: "aucun budget fixé",
      budget_alerts: "Alertes", budget_thresholds: "Seuils d'alerte (% du budget)", budget_thresholds_hint: "Séparés par des virgules, par ex. 50, 80, 100.",
      budget_webhook: "URL du webhook", budget_webhook_hint: "Chaque alerte y est envoyée en JSON (POST) ; vide : pas de webhook.",
      budget_save: "Enregistrer les alertes", budget_saved: "Alertes enregistrées.", budget_fired: "Alertes envoyées ce mois-ci",
      budget_fired_none: "Aucune pour l'instant.", budget_threshold_fired: "{percent} % atteints le {date}",
      audit_title: "Journal d'audit", audit_when: "Quand", audit_who: "Qui", audit_action: "Action", audit_target: "Sur",
      audit_from: "Depuis", audit_more: "Entrées plus anciennes", audit_empty: "Aucune entrée.",
      orgs_title: "Organisations", orgs_new: "Nouvelle organisation", orgs_id: "Identifiant", orgs_id_hint: "org_ puis minuscules, chiffres, _ ou - ; vide : aléatoire.",
      orgs_name: "Nom", orgs_tier: "Offre", orgs_budget: "Budget mensuel (USD)", orgs_contract: "Contrat (limites pour toute l'organisation)",
      orgs_sso: "Authentification unique (OpenID Connect)", orgs_issuer: "URL de l'émetteur", orgs_client_id: "Identifiant client",
      orgs_client_secret: "Secret client", orgs_client_secret_hint: "Vide : client public (PKCE), ou conserver l'actuel.",
      orgs_domains: "Domaines e-mail autorisés", orgs_domains_hint: "Séparés par des virgules ; vide : tous.",
      orgs_group_claim: "Attribut de groupe", orgs_group_value: "Valeur du groupe", orgs_mfa: "Exiger l'authentification multifacteur",
      orgs_signin_link: "Lien de connexion", orgs_edit_title: "Modifier {name}", orgs_save: "Enregistrer", orgs_empty: "Aucune organisation.",
      orgs_mfa_short: "MFA", yes: "oui", no: "non", orgs_alerts: "Alertes de budget",
      status_title: "État du service", status_incidents: "Incidents (derniers jours)", status_no_incidents: "Aucun incident.",
      status_update: "Publier un point", status_message: "Message", status_state: "Statut", status_post: "Publier",
      status_maintenance: "Maintenances", status_no_maintenance: "Aucune maintenance prévue.",
      status_new_maintenance: "Prévoir une maintenance", status_title_field: "Titre", status_models: "Modèles",
      status_models_hint: "Identifiants séparés par des virgules ; vide : tous les modèles.", status_starts: "Début", status_ends: "Fin",
      status_schedule: "Prévoir", status_end: "Terminer maintenant", status_open: "en cours", status_resolved: "résolu",
      status_incident_title: "Titre public", status_save_title: "Enregistrer le titre", status_everything: "tous les modèles",
      state_investigating: "analyse en cours", state_identified: "cause identifiée", state_monitoring: "surveillance",
      state_update: "point", state_resolved: "résolu", state_scheduled: "prévue", state_active: "en cours",
      state_done: "terminée",
      saved: "Enregistré.",
    },
  };

  const PAGES = [
    { id: "keys", label: "nav_keys", render: renderKeys },
    { id: "usage", label: "nav_usage", render: renderUsage },
    { id: "budget", label: "nav_budget", render: renderBudget },
    { id: "audit", label: "nav_audit", render: renderAudit },
    { id: "organisations", label: "nav_organisations", render: renderOrganisations, operator: true },
    { id: "status", label: "nav_status", render: renderStatus, operator: true },
  ];
  const REFRESH_MS = 5000;
  const state = { lang: "en", session: null, me: null, scope: "", organisations: [], timer: null, keyNames: {} };
  const $ = (id) => document.getElementById(id);

  // ---- words ----
  function t(key, vars) {
    let text = (STRINGS[state.lang] && STRINGS[state.lang][key]) || STRINGS.en[key] || key;
    for (const [name, value] of Object.entries(vars || {})) text = text.split("{" + name + "}").join(String(value));
    return text;
  }
  function number(value, digits) {
    return new Intl.NumberFormat(state.lang, { maximumFractionDigits: digits === undefined ? 0 : digits }).format(value || 0);
  }
  function money(value) {
    // Small models cost fractions of a cent per request: show them, not "$0.00".
    const amount = value || 0;
    const digits = amount !== 0 && Math.abs(amount) < 0.01 ? 6 : 4;
    return new Intl.NumberFormat(state.lang, { style: "currency", currency: "USD", maximumFractionDigits: digits }).format(amount);
  }
  function when(seconds) { return seconds ? new Date(seconds * 1000).toLocaleString(state.lang) : ""; }
  function pickLanguage() {
    const saved = localStorage.getItem("console.lang");
    if (saved === "en" || saved === "fr") return saved;
    return (navigator.language || "en").toLowerCase().startsWith("fr") ? "fr" : "en";
  }
  function applyWords() {
    document.documentElement.lang = state.lang;
    document.title = t("brand");
    document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
    $("lang").value = state.lang;
  }

  // ---- DOM ----
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "text") node.textContent = value;
      else if (value === true) node.setAttribute(name, "");
      else node.setAttribute(name, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  let fieldCount = 0;
  function field(label, input, hint) {
    const id = input.id || "f" + (++fieldCount);
    input.id = id;
    const hintNode = hint ? h("span", { class: "hint", id: id + "-hint" }, hint) : null;
    if (hintNode) input.setAttribute("aria-describedby", id + "-hint");
    return h("div", {}, h("label", { for: id }, label), input, hintNode);
  }
  function input(name, attrs) { return h("input", { name, ...attrs }); }
  function check(name, label, checked) {
    const box = h("input", { type: "checkbox", name, checked: checked || false });
    return h("label", { class: "check" }, box, label);
  }
  // On a phone, each row stacks into a card: every cell then shows its column's name (data-label, see the CSS).
  function table(headers, rows) {
    const labels = headers.map((head) => head.label || head);
    for (const row of rows) Array.from(row.children).forEach((cell, index) => cell.setAttribute("data-label", labels[index] || ""));
    return h("div", { class: "table-wrap" }, h("table", { class: "stack" },
      h("thead", {}, h("tr", {}, headers.map((head, index) => h("th", { scope: "col", class: head.num ? "num" : null }, labels[index])))),
      h("tbody", {}, rows)));
  }
  function say(message) { $("alert").textContent = message || ""; }
  function splitList(text) { return String(text || "").split(",").map((item) => item.trim()).filter(Boolean); }

  // ---- the admin API ----
  class ApiError extends Error {
    constructor(status, message, code) { super(message); this.status = status; this.code = code; }
  }
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET" && state.session) headers["x-csrf-token"] = state.session.csrf_token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, { method, headers, credentials: "same-origin",
                                     body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      throw new ApiError(0, t("error_network"));
    }
    const type = response.headers.get("content-type") || "";
    const data = type.includes("json") ? await response.json().catch(() => null) : null;
    if (!response.ok) {
      const error = data && data.error ? data.error : {};
      if (response.status === 401 && path !== "/console/session") {
        state.session = null;
        showSignIn(t("session_ended"));
      }
      throw new ApiError(response.status, error.message || t("error_generic", { status: response.status }), error.code);
    }
    return data;
  }
  function scoped(path, params) {
    const query = new URLSearchParams(params || {});
    if (state.session && state.session.role === "operator" && state.scope) query.set("organisation", state.scope);
    const text = query.toString();
    return text ? path + (path.includes("?") ? "&" : "?") + text : path;
  }
  function currentOrganisation() {
    return state.session.role === "operator" ? state.scope : state.session.organisation_id;
  }

  // ---- dialogs ----
  // Resolves with the button's value ("" when closed with Escape); the native <dialog> traps focus and
  // closes on Escape, and focus returns to what opened it.
  function openDialog(title, content, buttons) {
    const dialog = $("dialog");
    const opener = document.activeElement;
    $("dialog-title").textContent = title;
    $("dialog-content").replaceChildren(...content);
    $("dialog-actions").replaceChildren(...buttons.map((b) =>
      h("button", { value: b.value, class: b.kind || null, formnovalidate: b.value === "cancel" }, b.label)));
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        const value = dialog.returnValue;
        resolve(value);
        setTimeout(() => {
          $("dialog-content").replaceChildren();  // a secret does not stay in the page
          if (opener && opener.focus) opener.focus();
        }, 0);
      }, { once: true });
    });
  }
  async function confirmDialog(title, text, kind) {
    return (await openDialog(title, [h("p", {}, text)], [
      { value: "cancel", label: t("cancel"), kind: "secondary" }, { value: "ok", label: t("confirm"), kind }])) === "ok";
  }
  async function showSecret(key) {
    const status = h("p", { class: "hint", "aria-live": "polite" });
    const secret = h("code", { class: "secret", id: "secret-value" }, key.key);
    const copy = h("button", { type: "button", class: "secondary", id: "copy-secret", onclick: async () => {
      try {
        await navigator.clipboard.writeText(key.key);
        status.textContent = t("secret_copied");
      } catch (error) {
        const range = document.createRange();
        range.selectNodeContents(secret);
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        status.textContent = t("secret_copy_failed");
      }
    } }, t("secret_copy"));
    await openDialog(t("secret_title"), [h("p", { class: "notice" }, t("secret_warning")),
      h("p", {}, key.name + " (" + key.id + ")"), secret, h("div", { class: "actions" }, copy), status],
    [{ value: "close", label: t("close") }]);
  }

  // ---- keys ----
  const QUOTA_FIELDS = [["requests_per_minute", "keys_rpm", "1"], ["tokens_per_minute", "keys_tpm", "1"],
                        ["tokens_per_day", "keys_tpd", "1"], ["monthly_spend_cap_usd", "keys_cap", "0.01"]];
  function keyFields(key) {
    const quotas = (key && key.quotas) || {};
    return [
      field(t("keys_name"), input("name", { required: true, maxlength: 200, value: key ? key.name : "" })),
      ...QUOTA_FIELDS.map(([name, label, step]) => field(t(label),
        input(name, { type: "number", min: "0", step, value: quotas[name] ?? "" }), t("keys_unlimited"))),
      field(t("keys_models"), input("allowed_models", { value: (quotas.allowed_models || []).join(", ") }), t("keys_models_hint")),
    ];
  }
  // An edit keeps the quotas the form does not show (set through the API): it changes only the ones it shows.
  function keyBody(form, key) {
    const data = new FormData(form);
    const quotas = { ...((key && key.quotas) || {}) };
    for (const [name, , step] of QUOTA_FIELDS) {
      const value = String(data.get(name) || "").trim();
      if (value === "") delete quotas[name];
      else quotas[name] = step === "1" ? parseInt(value, 10) : parseFloat(value);
    }
    const models = splitList(data.get("allowed_models"));
    if (models.length) quotas.allowed_models = models; else delete quotas.allowed_models;
    return { name: String(data.get("name")).trim(), quotas };
  }
  function limitsText(key) {
    const limits = key.limits || {};
    const parts = [];
    if (limits.requests_per_minute != null) parts.push(number(limits.requests_per_minute) + " req/min");
    if (limits.tokens_per_minute != null) parts.push(number(limits.tokens_per_minute) + " tok/min");
    if (limits.tokens_per_day != null) parts.push(number(limits.tokens_per_day) + " tok/" + t("usage_day").toLowerCase());
    if (limits.monthly_spend_cap_usd != null) parts.push(money(limits.monthly_spend_cap_usd) + "/mo");
    if (limits.allowed_models) parts.push(limits.allowed_models.join(", "));
    return parts.join(" · ");
  }
  async function renderKeys(main) {
    const list = await api("GET", scoped("/admin/v1/keys"));
    const keys = (list.data || []).filter((key) => !key.internal);
    const form = h("form", { id: "create-key", class: "card", onsubmit: async (event) => {
      event.preventDefault();
      const body = keyBody(form);
      if (state.session.role === "operator" && state.scope) body.organisation = state.scope;
      const created = await act(() => api("POST", "/admin/v1/keys", body));
      if (!created) return;
      form.reset();
      await showSecret(created);
      route();
    } }, h("h2", {}, t("keys_new")), h("div", { class: "grid" }, keyFields(null)),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("keys_create"))));
    const rows = keys.map((key) => h("tr", { "data-key-id": key.id },
      h("td", {}, key.name), h("td", {}, h("code", {}, key.id)), h("td", {}, h("code", {}, key.redacted_value)),
      h("td", {}, limitsText(key)), h("td", {}, when(key.created_at)),
      h("td", {}, h("span", { class: "badge " + (key.revoked ? "off" : "ok") }, t(key.revoked ? "keys_revoked" : "keys_active"))),
      h("td", {}, key.revoked ? "" : h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: () => editKey(key) }, t("keys_edit")),
        h("button", { type: "button", class: "secondary", onclick: () => rotateKey(key) }, t("keys_rotate")),
        h("button", { type: "button", class: "danger", onclick: () => revokeKey(key) }, t("keys_revoke"))))));
    main.replaceChildren(h("h1", {}, t("keys_title")), form,
      keys.length ? table([t("keys_name"), t("keys_id"), t("keys_secret_hint"), t("keys_limits"), t("keys_created"),
                           t("keys_state"), t("keys_actions")], rows) : h("p", {}, t("keys_empty")));
  }
  async function editKey(key) {
    const form = $("dialog-form");
    const choice = await openDialog(t("keys_edit_title", { name: key.name }), [h("div", { class: "grid" }, keyFields(key))],
      [{ value: "cancel", label: t("cancel"), kind: "secondary" }, { value: "save", label: t("keys_save") }]);
    if (choice !== "save") return;
    const body = keyBody(form, key);
    if (await act(() => api("PATCH", "/admin/v1/keys/" + encodeURIComponent(key.id), body))) route();
  }
  async function rotateKey(key) {
    if (!await confirmDialog(t("rotate_title", { name: key.name }), t("rotate_text"))) return;
    const rotated = await act(() => api("POST", "/admin/v1/keys/" + encodeURIComponent(key.id) + "/rotate"));
    if (rotated) { await showSecret(rotated); route(); }
  }
  async function revokeKey(key) {
    if (!await confirmDialog(t("revoke_title", { name: key.name }), t("revoke_text"), "danger")) return;
    if (await act(() => api("DELETE", "/admin/v1/keys/" + encodeURIComponent(key.id)))) route();
  }

  // ---- consumption ----
  const METRICS = [["total_tokens", "usage_tokens", 0], ["cost_usd", "usage_cost", 4], ["audio_minutes", "usage_audio", 2],
                   ["requests", "usage_requests", 0]];
  function monthStart() { const now = new Date(); return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString().slice(0, 10); }
  function today() { return new Date().toISOString().slice(0, 10); }
  async function renderUsage(main) {
    try {
      const keys = await api("GET", scoped("/admin/v1/keys"));
      state.keyNames = Object.fromEntries((keys.data || []).map((key) => [key.id, key.name]));
    } catch (error) { state.keyNames = {}; }
    const group = h("select", { name: "group_by" }, [["key_id", "usage_key"], ["model", "usage_model"], ["day", "usage_day"]]
      .map(([value, label]) => h("option", { value }, t(label))));
    const metric = h("select", { name: "metric" }, METRICS.map(([value, label]) => h("option", { value }, t(label))));
    const from = input("start_date", { type: "date", value: monthStart() });
    const to = input("end_date", { type: "date", value: today() });
    const csv = h("a", { class: "button secondary", id: "usage-csv", download: "usage.csv" }, t("usage_csv"));
    const live = h("p", { class: "live", "aria-live": "off", id: "usage-live" });
    const results = h("div", { id: "usage-results" });
    const controls = h("form", { class: "card", onsubmit: (event) => event.preventDefault() },
      h("div", { class: "grid" }, field(t("usage_group"), group), field(t("usage_metric"), metric),
        field(t("usage_from"), from), field(t("usage_to"), to)), h("div", { class: "actions" }, csv), live);
    main.replaceChildren(h("h1", {}, t("usage_title")), controls, results);
    const params = () => ({ group_by: group.value, start_date: from.value, end_date: to.value });
    async function refresh() {
      csv.href = scoped("/admin/v1/usage", { ...params(), format: "csv" });
      const usage = await api("GET", scoped("/admin/v1/usage", params()));
      drawUsage(results, usage, group.value, metric.value);
      live.textContent = t("usage_live", { time: new Date().toLocaleTimeString(state.lang) });
    }
    for (const control of [group, metric, from, to]) control.addEventListener("change", () => act(refresh));
    await refresh();
    state.timer = setInterval(() => { if (!document.hidden) refresh().catch(showError); }, REFRESH_MS);
  }
  function groupLabel(row, groupBy) {
    const value = row[groupBy];
    if (groupBy === "key_id") return state.keyNames[value] ? state.keyNames[value] + " (" + value + ")" : value;
    return value;
  }
  function drawUsage(container, usage, groupBy, metric) {
    const rows = usage.data || [];
    const totals = usage.totals || {};
    const cards = h("div", { class: "totals" }, [["requests", "usage_requests", 0], ["total_tokens", "usage_tokens", 0],
      ["audio_minutes", "usage_audio", 2]].map(([name, label, digits]) =>
      h("div", { class: "total" }, t(label), h("strong", { "data-total": name }, number(totals[name], digits)))),
    h("div", { class: "total" }, t("usage_cost"), h("strong", { "data-total": "cost_usd" }, money(totals.cost_usd))));
    if (!rows.length) { container.replaceChildren(cards, h("p", {}, t("usage_empty"))); return; }
    const [, metricLabel, digits] = METRICS.find(([name]) => name === metric);
    const groupWord = t({ key_id: "usage_key", model: "usage_model", day: "usage_day" }[groupBy]);
    const body = rows.map((row) => h("tr", {}, h("td", {}, groupLabel(row, groupBy)),
      h("td", { class: "num" }, number(row.requests)), h("td", { class: "num" }, number(row.prompt_tokens)),
      h("td", { class: "num" }, number(row.completion_tokens)), h("td", { class: "num" }, number(row.audio_minutes, 2)),
      h("td", { class: "num" }, money(row.cost_usd))));
    container.replaceChildren(cards,
      h("h2", {}, t("usage_chart", { metric: t(metricLabel), group: groupWord.toLowerCase() })),
      chart(rows.map((row) => [groupLabel(row, groupBy), row[metric] || 0]), digits, metric === "cost_usd"),
      table([groupWord, { label: t("usage_requests"), num: true }, { label: t("usage_prompt"), num: true },
             { label: t("usage_completion"), num: true }, { label: t("usage_audio"), num: true },
             { label: t("usage_cost"), num: true }], body));
  }
  // Horizontal bars in inline SVG: one row per group, readable on a phone as at 1280 px.
  function chart(points, digits, isMoney) {
    const NS = "http://www.w3.org/2000/svg";
    const width = 640, row = 26, labelWidth = 220, valueWidth = 110;
    const top = Math.max(...points.map(([, value]) => value), 0) || 1;
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + (points.length * row + 4));
    svg.setAttribute("class", "chart");
    svg.setAttribute("role", "img");
    const make = (tag, attrs, text) => {
      const node = document.createElementNS(NS, tag);
      for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
      if (text !== undefined) node.textContent = text;
      return node;
    };
    const summary = points.map(([label, value]) => label + ": " + (isMoney ? money(value) : number(value, digits))).join("; ");
    svg.setAttribute("aria-label", summary);
    points.forEach(([label, value], index) => {
      const y = index * row + 2;
      const barWidth = Math.max(1, (width - labelWidth - valueWidth) * value / top);
      const short = String(label).length > 30 ? String(label).slice(0, 29) + "…" : String(label);
      svg.append(make("text", { x: 0, y: y + 16 }, short),
        make("rect", { class: "bar", x: labelWidth, y: y + 4, width: barWidth, height: row - 8, rx: 2 }),
        make("text", { x: labelWidth + barWidth + 6, y: y + 16 }, isMoney ? money(value) : number(value, digits)));
    });
    return svg;
  }

  // ---- budget ----
  async function renderBudget(main) {
    const organisationId = currentOrganisation();
    if (!organisationId) { main.replaceChildren(h("h1", {}, t("budget_title")), h("p", {}, t("budget_choose"))); return; }
    const path = "/admin/v1/organisations/" + encodeURIComponent(organisationId);
    const [budget, organisation] = await Promise.all([api("GET", path + "/budget"), api("GET", path)]);
    const monthly = budget.monthly_budget_usd ?? null;
    const spent = budget.spent_this_month_usd ?? 0;
    const remaining = budget.remaining_this_month_usd ?? null;
    const alerts = organisation.alerts || { thresholds_percent: budget.thresholds_percent };
    const fired = budget.alerts || [];
    const thresholds = input("thresholds_percent", { value: (alerts.thresholds_percent || []).join(", "), inputmode: "numeric" });
    const webhook = input("webhook_url", { type: "url", value: alerts.webhook_url || "" });
    const form = h("form", { class: "card", id: "budget-alerts", onsubmit: async (event) => {
      event.preventDefault();
      const percents = thresholds.value.split(",").map((p) => p.trim()).filter(Boolean).map(Number);
      const body = { alerts: { thresholds_percent: percents, webhook_url: webhook.value.trim() || null } };
      if (await act(() => api("PATCH", path, body))) { say(""); route(); }
    } }, h("h2", {}, t("budget_alerts")),
    h("div", { class: "grid" }, field(t("budget_thresholds"), thresholds, t("budget_thresholds_hint")),
      field(t("budget_webhook"), webhook, t("budget_webhook_hint"))),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("budget_save"))));
    const meter = monthly ? h("meter", { min: "0", max: String(monthly), value: String(Math.min(spent, monthly)),
      high: String(monthly * 0.8), optimum: "0", "aria-label": t("budget_spent") }) : null;
    main.replaceChildren(h("h1", {}, t("budget_title") + " · " + (organisation.name || organisationId)),
      h("div", { class: "totals" },
        h("div", { class: "total" }, t("budget_monthly"), h("strong", { "data-budget": "monthly" }, monthly === null ? t("budget_none") : money(monthly))),
        h("div", { class: "total" }, t("budget_spent"), h("strong", { "data-budget": "spent" }, money(spent))),
        h("div", { class: "total" }, t("budget_remaining"), h("strong", { "data-budget": "remaining" }, remaining === null ? "—" : money(remaining)))),
      meter ? h("section", { class: "card" }, meter) : null,
      h("section", { class: "card" }, h("h2", {}, t("budget_fired")), fired.length
        ? h("ul", {}, fired.map((alert) => h("li", {}, t("budget_threshold_fired",
          { percent: alert.threshold_percent, date: when(alert.fired_at) }))))
        : h("p", {}, t("budget_fired_none"))),
      form);
  }

  // ---- audit ----
  async function renderAudit(main) {
    const body = h("tbody");
    const labels = [t("audit_when"), t("audit_who"), t("audit_action"), t("audit_target"), t("audit_from")];
    const more = h("button", { type: "button", class: "secondary", onclick: () => act(() => load(oldest)) }, t("audit_more"));
    let oldest = null;
    async function load(before) {
      const params = { limit: "50" };
      if (before) params.before = String(before);
      const page = await api("GET", scoped("/admin/v1/audit", params));
      const entries = page.data || [];
      body.append(...entries.map((entry) => h("tr", {}, [when(entry.at), entry.actor, h("code", {}, entry.action),
        entry.target || "", entry.address || ""].map((value, index) => h("td", { "data-label": labels[index] }, value)))));
      if (entries.length) oldest = entries[entries.length - 1].at;
      more.hidden = entries.length < 50;
    }
    main.replaceChildren(h("h1", {}, t("audit_title")), h("div", { class: "table-wrap" }, h("table", { class: "stack" },
      h("thead", {}, h("tr", {}, labels.map((label) => h("th", { scope: "col" }, label)))), body)),
    h("div", { class: "actions" }, more));
    await load(null);
    if (!body.children.length) main.append(h("p", {}, t("audit_empty")));
  }

  // ---- organisations (operators) ----
  const CONTRACT_FIELDS = [["monthly_spend_cap_usd", "orgs_budget", "0.01"], ["requests_per_minute", "keys_rpm", "1"],
                           ["tokens_per_minute", "keys_tpm", "1"], ["tokens_per_day", "keys_tpd", "1"]];
  function organisationFields(org) {
    const contract = (org && org.contract) || {};
    const sso = (org && org.sso) || {};
    const alerts = (org && org.alerts) || { thresholds_percent: [50, 80, 100] };
    return [
      org ? null : field(t("orgs_id"), input("id", { pattern: "org_[a-z0-9_\\-]{1,40}", maxlength: "44" }), t("orgs_id_hint")),
      h("div", { class: "grid" }, field(t("orgs_name"), input("name", { required: true, value: org ? org.name : "" })),
        field(t("orgs_tier"), input("tier", { value: (org && org.tier) || "" }))),
      h("h3", {}, t("orgs_contract")),
      h("div", { class: "grid" }, CONTRACT_FIELDS.map(([name, label, step]) => field(t(label),
        input(name, { type: "number", min: "0", step, value: contract[name] ?? "" }), t("keys_unlimited"))),
        field(t("keys_models"), input("allowed_models", { value: (contract.allowed_models || []).join(", ") }), t("keys_models_hint"))),
      h("h3", {}, t("orgs_sso")),
      h("div", { class: "grid" }, field(t("orgs_issuer"), input("issuer", { type: "url", value: sso.issuer || "" })),
        field(t("orgs_client_id"), input("client_id", { value: sso.client_id || "" })),
        field(t("orgs_client_secret"), input("client_secret", { type: "password", autocomplete: "off" }), t("orgs_client_secret_hint")),
        field(t("orgs_domains"), input("allowed_email_domains", { value: (sso.allowed_email_domains || []).join(", ") }), t("orgs_domains_hint")),
        field(t("orgs_group_claim"), input("group_claim", { value: sso.group_claim || "" })),
        field(t("orgs_group_value"), input("group_value", { value: sso.group_value || "" }))),
      check("require_mfa", t("orgs_mfa"), sso.require_mfa),
      h("h3", {}, t("orgs_alerts")),
      h("div", { class: "grid" }, field(t("budget_thresholds"), input("thresholds_percent",
        { value: (alerts.thresholds_percent || []).join(", "), inputmode: "numeric" }), t("budget_thresholds_hint")),
        field(t("budget_webhook"), input("webhook_url", { type: "url", value: alerts.webhook_url || "" }), t("budget_webhook_hint"))),
    ];
  }
  // The contract's other limits (set through the API) are kept: the form changes only the ones it shows.
  function organisationBody(form, org) {
    const data = new FormData(form);
    const text = (name) => String(data.get(name) || "").trim();
    const body = { name: text("name"), tier: text("tier") || null, contract: { ...((org && org.contract) || {}) } };
    if (!org && text("id")) body.id = text("id");
    for (const [name, , step] of CONTRACT_FIELDS) {
      if (text(name) === "") delete body.contract[name];
      else body.contract[name] = step === "1" ? parseInt(text(name), 10) : parseFloat(text(name));
    }
    const models = splitList(text("allowed_models"));
    if (models.length) body.contract.allowed_models = models; else delete body.contract.allowed_models;
    if (text("issuer")) {
      body.sso = { issuer: text("issuer"), client_id: text("client_id"),
        allowed_email_domains: splitList(text("allowed_email_domains")),
        group_claim: text("group_claim") || null, group_value: text("group_value") || null,
        require_mfa: data.get("require_mfa") === "on" };
      if (text("client_secret")) body.sso.client_secret = text("client_secret");
    } else if (org && org.sso) {
      body.sso = null;  // the issuer cleared: its administrators no longer sign in
    }
    body.alerts = { thresholds_percent: splitList(text("thresholds_percent")).map(Number),
                    webhook_url: text("webhook_url") || null };
    return body;
  }
  async function editOrganisation(org) {
    const choice = await openDialog(org ? t("orgs_edit_title", { name: org.name }) : t("orgs_new"), organisationFields(org),
      [{ value: "cancel", label: t("cancel"), kind: "secondary" }, { value: "save", label: t("orgs_save") }]);
    if (choice !== "save") return;
    const body = organisationBody($("dialog-form"), org);
    const done = await act(() => org ? api("PATCH", "/admin/v1/organisations/" + encodeURIComponent(org.id), body)
                                     : api("POST", "/admin/v1/organisations", body));
    if (done) { await loadOrganisations(); route(); }
  }
  async function renderOrganisations(main) {
    const list = await api("GET", "/admin/v1/organisations");
    const rows = (list.data || []).map((org) => h("tr", { "data-organisation-id": org.id },
      h("td", {}, org.name), h("td", {}, h("code", {}, org.id)), h("td", {}, org.tier || ""),
      h("td", {}, org.contract && org.contract.monthly_spend_cap_usd != null ? money(org.contract.monthly_spend_cap_usd) : ""),
      h("td", {}, org.sso ? org.sso.issuer : ""), h("td", {}, t(org.sso && org.sso.require_mfa ? "yes" : "no")),
      h("td", {}, org.sso ? h("code", { class: "link" }, location.origin + "/console/login?organisation=" + encodeURIComponent(org.id)) : ""),
      h("td", {}, h("button", { type: "button", class: "secondary", onclick: () => editOrganisation(org) }, t("keys_edit")))));
    main.replaceChildren(h("h1", {}, t("orgs_title")),
      h("div", { class: "actions" }, h("button", { type: "button", onclick: () => editOrganisation(null) }, t("orgs_new"))),
      rows.length ? table([t("orgs_name"), t("orgs_id"), t("orgs_tier"), t("orgs_budget"), t("orgs_issuer"),
                           t("orgs_mfa_short"), t("orgs_signin_link"), t("keys_actions")], rows) : h("p", {}, t("orgs_empty")));
  }

  // ---- status (operators) ----
  const UPDATE_STATES = ["investigating", "identified", "monitoring", "update", "resolved"];
  function incidentCard(incident) {
    const path = "/admin/v1/incidents/" + encodeURIComponent(incident.id);
    const title = input("title", { required: true, maxlength: "200", value: incident.title || "" });
    const naming = h("form", { class: "inline-form", onsubmit: async (event) => {
      event.preventDefault();
      if (await act(() => api("PATCH", path, { title: title.value.trim() }))) route();
    } }, field(t("status_incident_title"), title), h("button", { type: "submit", class: "secondary" }, t("status_save_title")));
    const message = h("textarea", { name: "message", required: true, rows: "2", maxlength: "5000" });
    const stage = h("select", { name: "status" }, UPDATE_STATES.map((value) => h("option", { value }, t("state_" + value))));
    const update = h("form", { onsubmit: async (event) => {
      event.preventDefault();
      const body = { status: stage.value, message: message.value.trim() };
      if (await act(() => api("POST", path + "/updates", body))) route();
    } }, h("div", { class: "grid" }, field(t("status_state"), stage), field(t("status_message"), message)),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("status_post"))));
    const open = incident.status !== "resolved";
    return h("section", { class: "card incident", "data-incident-id": incident.id },
      h("h3", {}, (incident.title || incident.id) + " · " + t(open ? "status_open" : "status_resolved")),
      h("p", { class: "hint" }, when(incident.started_at) + ((incident.models || []).length
        ? " · " + incident.models.map((m) => m.model).join(", ") : "")),
      h("ul", {}, (incident.updates || []).map((u) => h("li", {}, when(u.at) + " · " + t("state_" + u.status) + " — " + u.message))),
      open ? naming : null, open ? update : null);
  }
  async function renderStatus(main) {
    const [status, windows] = await Promise.all([api("GET", "/status.json"), api("GET", "/admin/v1/maintenance")]);
    const incidents = (status.incidents || []).map(incidentCard);
    const title = input("title", { required: true, maxlength: "200" });
    const models = input("models", {});
    const starts = input("starts_at", { type: "datetime-local", required: true });
    const ends = input("ends_at", { type: "datetime-local", required: true });
    const schedule = h("form", { class: "card", id: "schedule-maintenance", onsubmit: async (event) => {
      event.preventDefault();
      const body = { title: title.value.trim(), models: splitList(models.value),
                     starts_at: new Date(starts.value).toISOString(), ends_at: new Date(ends.value).toISOString() };
      if (await act(() => api("POST", "/admin/v1/maintenance", body))) route();
    } }, h("h3", {}, t("status_new_maintenance")), h("div", { class: "grid" }, field(t("status_title_field"), title),
      field(t("status_models"), models, t("status_models_hint")), field(t("status_starts"), starts), field(t("status_ends"), ends)),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("status_schedule"))));
    const rows = (windows.data || []).map((w) => h("tr", { "data-maintenance-id": w.id }, h("td", {}, w.title),
      h("td", {}, (w.models || []).join(", ") || t("status_everything")),
      h("td", {}, when(w.starts_at)), h("td", {}, when(w.ends_at)), h("td", {}, t("state_" + w.status)),
      h("td", {}, w.status === "done" ? "" : h("button", { type: "button", class: "secondary", onclick: async () => {
        if (await act(() => api("DELETE", "/admin/v1/maintenance/" + encodeURIComponent(w.id)))) route();
      } }, t("status_end")))));
    main.replaceChildren(h("h1", {}, t("status_title")), h("h2", {}, t("status_incidents")),
      ...(incidents.length ? incidents : [h("p", {}, t("status_no_incidents"))]), h("h2", {}, t("status_maintenance")),
      rows.length ? table([t("status_title_field"), t("status_models"), t("status_starts"), t("status_ends"), t("status_state"),
                           t("keys_actions")], rows)
                  : h("p", {}, t("status_no_maintenance")), schedule);
  }

  // ---- sign-in, navigation ----
  function showError(error) { say(error && error.message ? error.message : String(error)); }
  async function act(work) {
    say("");
    try { return (await work()) || true; } catch (error) { showError(error); return null; }
  }
  function showSignIn(message) {
    stopTimer();
    $("nav").hidden = true;
    $("signout").hidden = true;
    $("scope-label").hidden = true;
    $("who").textContent = "";
    const params = new URLSearchParams(location.search);
    const organisation = input("organisation", { required: true, autocomplete: "organization",
      value: params.get("organisation") || localStorage.getItem("console.organisation") || "" });
    // Sign-in is a navigation by script, not a form submission: the page's form-action 'self' would stop a
    // form's redirect to the identity provider.
    const form = h("form", { class: "card", id: "signin", onsubmit: (event) => {
      event.preventDefault();
      localStorage.setItem("console.organisation", organisation.value.trim());
      location.assign("/console/login?organisation=" + encodeURIComponent(organisation.value.trim()));
    } }, field(t("signin_organisation"), organisation, t("signin_hint")),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("signin_button"))));
    $("main").replaceChildren(h("h1", {}, t("signin_title")), h("p", {}, t("signin_intro")), form,
      h("p", {}, t("signin_operator") + " ", h("a", { href: "/console/login?operator=1", id: "operator-signin" }, t("signin_operator_link"))));
    say(message || "");
  }
  function stopTimer() { if (state.timer) { clearInterval(state.timer); state.timer = null; } }
  function allowedPages() { return PAGES.filter((page) => !page.operator || state.session.role === "operator"); }
  function drawNav(current) {
    $("nav").replaceChildren(...allowedPages().map((page) => h("a", { href: "#/" + page.id,
      "aria-current": page.id === current ? "page" : null }, t(page.label))));
    $("nav").hidden = false;
    $("signout").hidden = false;
    const role = t("role_" + state.session.role);
    const organisation = state.me && state.me.organisation ? state.me.organisation.name : state.session.organisation_id;
    $("who").textContent = state.session.who + " · " + role + (organisation ? " · " + organisation : "");
  }
  function drawScope() {
    const operator = state.session.role === "operator";
    $("scope-label").hidden = !operator;
    if (!operator) return;
    $("organisation-scope").replaceChildren(h("option", { value: "" }, t("all_organisations")),
      ...state.organisations.map((org) => h("option", { value: org.id, selected: org.id === state.scope }, org.name + " (" + org.id + ")")));
  }
  async function loadOrganisations() {
    if (state.session.role !== "operator") return;
    try { state.organisations = (await api("GET", "/admin/v1/organisations")).data || []; } catch (error) { state.organisations = []; }
    drawScope();
  }
  async function route() {
    stopTimer();
    if (!state.session) { showSignIn(); return; }
    const wanted = location.hash.replace(/^#\/?/, "");
    const page = allowedPages().find((p) => p.id === wanted) || allowedPages()[0];
    drawNav(page.id);
    const main = $("main");
    main.replaceChildren(h("p", {}, t("loading")));
    try {
      await page.render(main);
    } catch (error) {
      if (state.session) { main.replaceChildren(h("h1", {}, t(page.label))); showError(error); }
    }
  }
  async function start() {
    state.lang = pickLanguage();
    applyWords();
    $("lang").addEventListener("change", () => {
      state.lang = $("lang").value;
      localStorage.setItem("console.lang", state.lang);
      applyWords();
      if (state.session) { drawScope(); route(); } else showSignIn($("alert").textContent);
    });
    $("organisation-scope").addEventListener("change", () => { state.scope = $("organisation-scope").value; route(); });
    $("signout").addEventListener("click", async () => {
      await act(() => api("POST", "/console/logout"));
      state.session = null;
      showSignIn();
    });
    window.addEventListener("hashchange", () => { say(""); route().then(() => $("main").focus()); });
    try {
      state.session = await api("GET", "/console/session");
    } catch (error) {
      showSignIn(error.code === "session_expired" ? t("session_ended") : "");
      return;
    }
    try { state.me = await api("GET", "/admin/v1/me"); } catch (error) { state.me = null; }
    await loadOrganisations();
    await route();
  }
  start();
})();
