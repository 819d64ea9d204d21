//! The manifest checker: walks the generic tree, records every problem with
//! its path, and builds a [`Manifest`] only when there were none.

use std::collections::{BTreeMap, HashMap};

use crm_core::plugin_api::PLUGGABLE_ENTITIES;
use semver::Version;
use serde_json::{Map, Value};

use super::config::check_value;
use super::{
    ActionDecl, Capabilities, ConfigField, ConfigType, FailurePolicy, FunctionDecl, FunctionKind,
    HANDLER_DEADLINE_MS, HANDLERS_SINCE, HTTP_SINCE, HandlerDecl, MAX_DEADLINE_MS, Manifest,
    ManifestError, ManifestIssue, SCHEDULE_DEADLINE_MS, ScheduleDecl, WebhookDecl, type_name,
};
use crate::plugin::capabilities::Origin;

const TOP_KEYS: &[&str] = &[
    "id",
    "version",
    "contract",
    "description",
    "component",
    "functions",
    "handlers",
    "schedules",
    "actions",
    "webhooks",
    "capabilities",
    "config",
];
const HANDLER_KEYS: &[&str] = &["name", "events", "deadline-ms"];
const SCHEDULE_KEYS: &[&str] = &["name", "cron", "deadline-ms"];
const ACTION_KEYS: &[&str] = &["name", "description"];
const WEBHOOK_KEYS: &[&str] = &["name", "description", "deadline-ms"];
/// The entry-point tables, in the order their names are checked for uniqueness.
const ENTRY_POINT_TABLES: &[(&str, &str)] = &[
    ("functions", "function"),
    ("handlers", "handler"),
    ("schedules", "schedule"),
    ("actions", "action"),
    ("webhooks", "webhook"),
];
/// What capabilities may name besides the pluggable entities: records a
/// handler reads or writes through GraphQL without being attached to them.
const EXTRA_CAPABILITY_ENTITIES: &[&str] = &["user", "pipeline", "tag"];
const FUNCTION_KEYS: &[&str] = &[
    "name",
    "kind",
    "entities",
    "input",
    "on-failure",
    "fuel-per-record",
];
const CAPABILITY_KEYS: &[&str] = &["read", "pii-read", "write", "kv", "emit", "http"];
const CONFIG_FIELD_KEYS: &[&str] = &["type", "default", "description", "values"];

/// Collects issues; every accessor reports what is wrong and returns `None`.
struct Checker {
    issues: Vec<ManifestIssue>,
}

impl Checker {
    fn issue(&mut self, path: &str, message: impl Into<String>) {
        self.issues.push(ManifestIssue {
            path: path.to_owned(),
            message: message.into(),
        });
    }

    fn expected(&mut self, path: &str, expected: &str, found: &Value) {
        self.issue(
            path,
            format!("expected {expected}, found {}", type_name(found)),
        );
    }

    fn table<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Object(map) if type_name(value) == "table" => Some(map),
            other => {
                self.expected(path, "a table", other);
                None
            }
        }
    }

    fn unknown_keys(&mut self, table: &Map<String, Value>, prefix: &str, known: &[&str]) {
        for key in table.keys().filter(|k| !known.contains(&k.as_str())) {
            self.issue(
                &join(prefix, key),
                format!("unknown key (expected one of: {})", known.join(", ")),
            );
        }
    }

    fn string<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v str> {
        match value {
            Value::String(s) => Some(s),
            other => {
                self.expected(path, "string", other);
                None
            }
        }
    }

    fn required<'v>(
        &mut self,
        table: &'v Map<String, Value>,
        prefix: &str,
        key: &str,
    ) -> Option<&'v Value> {
        let value = table.get(key);
        if value.is_none() {
            self.issue(&join(prefix, key), "missing required key");
        }
        value
    }

    fn required_string<'v>(
        &mut self,
        table: &'v Map<String, Value>,
        prefix: &str,
        key: &str,
    ) -> Option<&'v str> {
        let value = self.required(table, prefix, key)?;
        self.string(value, &join(prefix, key))
    }

    fn optional_string<'v>(
        &mut self,
        table: &'v Map<String, Value>,
        prefix: &str,
        key: &str,
    ) -> Option<Option<&'v str>> {
        match table.get(key) {
            None => Some(None),
            Some(value) => self.string(value, &join(prefix, key)).map(Some),
        }
    }

    fn version(&mut self, table: &Map<String, Value>, key: &str) -> Option<Version> {
        let text = self.required_string(table, "", key)?;
        match Version::parse(text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.issue(
                    key,
                    format!("{text:?} is not a semantic version like \"0.1.0\" ({e})"),
                );
                None
            }
        }
    }

    /// A list of known entity names, each checked at `path[i]`.
    fn entities(&mut self, value: &Value, path: &str) -> Option<Vec<String>> {
        self.names_from(value, path, PLUGGABLE_ENTITIES)
    }

    /// Entities a capability may name: the pluggable ones and a few more.
    fn capability_entities(&mut self, value: &Value, path: &str) -> Option<Vec<String>> {
        let known: Vec<&str> = PLUGGABLE_ENTITIES
            .iter()
            .chain(EXTRA_CAPABILITY_ENTITIES)
            .copied()
            .collect();
        self.names_from(value, path, &known)
    }

    fn names_from(&mut self, value: &Value, path: &str, known: &[&str]) -> Option<Vec<String>> {
        let Value::Array(items) = value else {
            self.expected(path, "an array of entity names", value);
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            let Some(name) = self.string(item, &item_path) else {
                ok = false;
                continue;
            };
            if !known.contains(&name) {
                self.issue(
                    &item_path,
                    format!(
                        "unknown entity {name:?} (expected one of: {})",
                        known.join(", ")
                    ),
                );
                ok = false;
            } else if out.iter().any(|e| e == name) {
                self.issue(&item_path, format!("entity {name:?} is listed twice"));
                ok = false;
            } else {
                out.push(name.to_owned());
            }
        }
        ok.then_some(out)
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// `[a-z]` followed by `min..=max` of `[a-z0-9-]`.
fn is_name(text: &str, min_rest: usize, max_rest: usize) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && (min_rest..=max_rest).contains(&(text.len() - 1))
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Check a whole manifest tree; `origin` names it in error messages.
pub(super) fn manifest(root: &Value, origin: &str) -> Result<Manifest, ManifestError> {
    let mut c = Checker { issues: Vec::new() };
    let manifest = check_root(&mut c, root);
    match manifest {
        Some(m) if c.issues.is_empty() => Ok(m),
        _ => {
            if c.issues.is_empty() {
                // Every `None` above is paired with an issue; this is a guard.
                c.issue("", "invalid manifest");
            }
            Err(ManifestError {
                origin: origin.to_owned(),
                errors: c.issues,
            })
        }
    }
}

fn check_root(c: &mut Checker, root: &Value) -> Option<Manifest> {
    let top = c.table(root, "")?;
    c.unknown_keys(top, "", TOP_KEYS);

    let id = c.required_string(top, "", "id").and_then(|id| {
        if is_name(id, 1, 62) {
            Some(id.to_owned())
        } else {
            c.issue(
                "id",
                format!("{id:?} is not a valid id ([a-z][a-z0-9-]{{1,62}})"),
            );
            None
        }
    });
    let version = c.version(top, "version");
    let contract = c.version(top, "contract");
    let description = c.required_string(top, "", "description").map(str::to_owned);
    let component = c
        .optional_string(top, "", "component")
        .and_then(|path| match path {
            Some("") => {
                c.issue("component", "must not be empty");
                None
            }
            other => Some(other.map(str::to_owned)),
        });
    let functions = match top.get("functions") {
        None => Some(Vec::new()),
        Some(v) => check_entries(c, v, "functions", check_function),
    };
    let handlers = match top.get("handlers") {
        None => Some(Vec::new()),
        Some(v) => check_entries(c, v, "handlers", check_handler),
    };
    let schedules = match top.get("schedules") {
        None => Some(Vec::new()),
        Some(v) => check_entries(c, v, "schedules", check_schedule),
    };
    let actions = match top.get("actions") {
        None => Some(Vec::new()),
        Some(v) => check_entries(c, v, "actions", check_action),
    };
    let webhooks = match top.get("webhooks") {
        None => Some(Vec::new()),
        Some(v) => check_entries(c, v, "webhooks", check_webhook),
    };
    check_unique_names(c, top);
    check_has_entry_points(c, top, contract.as_ref());
    if let Some(contract) = &contract {
        check_contract_allows(c, top, contract);
        check_http_allowed(c, top, contract);
    }
    let capabilities = match top.get("capabilities") {
        None => Some(Capabilities::default()),
        Some(v) => check_capabilities(c, v),
    };
    let config = match top.get("config") {
        None => Some(BTreeMap::new()),
        Some(v) => check_config(c, v),
    };

    Some(Manifest {
        id: id?,
        version: version?,
        contract: contract?,
        description: description?,
        component: component?,
        functions: functions?,
        handlers: handlers?,
        schedules: schedules?,
        actions: actions?,
        webhooks: webhooks?,
        capabilities: capabilities?,
        config: config?,
    })
}

/// Names are unique across every entry point: a handler learns which one
/// runs from its name alone.
fn check_unique_names(c: &mut Checker, top: &Map<String, Value>) {
    let mut seen: HashMap<&str, String> = HashMap::new();
    for (table, kind) in ENTRY_POINT_TABLES {
        let Some(Value::Array(items)) = top.get(*table) else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            let Some(name) = item.get("name").and_then(Value::as_str) else {
                continue;
            };
            let path = format!("{table}[{i}]");
            if let Some(first) = seen.get(name) {
                c.issue(
                    &format!("{path}.name"),
                    format!("duplicate {kind} name {name:?} (also {first})"),
                );
            } else {
                seen.insert(name, path);
            }
        }
    }
}

fn entry_count(top: &Map<String, Value>, table: &str) -> usize {
    match top.get(table) {
        Some(Value::Array(items)) => items.len(),
        // Present but not a list: already reported; count it as an entry
        // so the manifest is not also said to have none.
        Some(_) => 1,
        None => 0,
    }
}

fn check_has_entry_points(c: &mut Checker, top: &Map<String, Value>, contract: Option<&Version>) {
    if ENTRY_POINT_TABLES
        .iter()
        .any(|(table, _)| entry_count(top, table) > 0)
    {
        return;
    }
    match contract {
        Some(v) if *v >= HANDLERS_SINCE => c.issue(
            "functions",
            "at least one entry point is required: [[functions]], [[handlers]], [[schedules]], [[actions]] or [[webhooks]]",
        ),
        _ => c.issue("functions", "at least one [[functions]] entry is required"),
    }
}

/// Refuse what the declared contract cannot run, at the key that needs more.
fn check_contract_allows(c: &mut Checker, top: &Map<String, Value>, contract: &Version) {
    if *contract >= HANDLERS_SINCE {
        return;
    }
    let needs = format!(
        "requires contract \"{HANDLERS_SINCE}\" or later, but contract = \"{contract}\"; \
         set contract = \"{HANDLERS_SINCE}\" and export the plugin with crm_plugin_sdk::export_plugin_v0_2!"
    );
    // Webhooks say that they need 0.3.0 (check_http_allowed).
    for (table, _) in &ENTRY_POINT_TABLES[1..ENTRY_POINT_TABLES.len() - 1] {
        if entry_count(top, table) > 0 {
            c.issue(table, needs.clone());
        }
    }
    let Some(Value::Object(caps)) = top.get("capabilities") else {
        return;
    };
    if matches!(caps.get("write"), Some(Value::Array(items)) if !items.is_empty()) {
        c.issue("capabilities.write", needs.clone());
    }
    for key in ["kv", "emit"] {
        if caps.get(key) == Some(&Value::Bool(true)) {
            c.issue(&format!("capabilities.{key}"), needs.clone());
        }
    }
}

/// Outbound HTTP and webhooks need contract 0.3.0; say so at
/// `capabilities.http` and `webhooks`.
fn check_http_allowed(c: &mut Checker, top: &Map<String, Value>, contract: &Version) {
    if *contract >= HTTP_SINCE {
        return;
    }
    let needs = format!(
        "requires contract \"{HTTP_SINCE}\" or later, but contract = \"{contract}\"; \
         set contract = \"{HTTP_SINCE}\" and export the plugin with crm_plugin_sdk::export_plugin_v0_3!"
    );
    let asks = top
        .get("capabilities")
        .and_then(|caps| caps.get("http"))
        .is_some_and(|v| matches!(v, Value::Array(items) if !items.is_empty()));
    if asks {
        c.issue("capabilities.http", needs.clone());
    }
    if entry_count(top, "webhooks") > 0 {
        c.issue("webhooks", needs);
    }
}

/// An array of tables, each checked by `check` at `table[i]`.
fn check_entries<T>(
    c: &mut Checker,
    value: &Value,
    table: &str,
    check: fn(&mut Checker, &Value, &str) -> Option<T>,
) -> Option<Vec<T>> {
    let Value::Array(items) = value else {
        c.expected(table, &format!("an array of tables ([[{table}]])"), value);
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(decl) = check(c, item, &format!("{table}[{i}]")) {
            out.push(decl);
        }
    }
    (out.len() == items.len()).then_some(out)
}

/// The `name` of an entry point: `[a-z][a-z0-9-]{0,62}`.
fn entry_name(
    c: &mut Checker,
    table: &Map<String, Value>,
    path: &str,
    kind: &str,
) -> Option<String> {
    let name = c.required_string(table, path, "name")?;
    if is_name(name, 0, 62) {
        Some(name.to_owned())
    } else {
        c.issue(
            &join(path, "name"),
            format!("{name:?} is not a valid {kind} name ([a-z][a-z0-9-]{{0,62}})"),
        );
        None
    }
}

/// An optional `deadline-ms`: 1..=[`MAX_DEADLINE_MS`].
fn deadline_ms(
    c: &mut Checker,
    table: &Map<String, Value>,
    path: &str,
    default: u64,
) -> Option<u64> {
    match table.get("deadline-ms") {
        None => Some(default),
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_DEADLINE_MS).contains(&n) => Some(n),
            Some(n) if n > MAX_DEADLINE_MS => {
                c.issue(
                    &join(path, "deadline-ms"),
                    format!(
                        "{n} is over the limit of {MAX_DEADLINE_MS} ms (a run must end within the job queue's lease)"
                    ),
                );
                None
            }
            _ => {
                c.issue(
                    &join(path, "deadline-ms"),
                    format!(
                        "expected a positive integer (milliseconds), found {}",
                        describe(v)
                    ),
                );
                None
            }
        },
    }
}

fn check_handler(c: &mut Checker, value: &Value, path: &str) -> Option<HandlerDecl> {
    let table = c.table(value, path)?;
    c.unknown_keys(table, path, HANDLER_KEYS);
    let name = entry_name(c, table, path, "handler");
    let events_path = join(path, "events");
    let events = c
        .required(table, path, "events")
        .and_then(|v| event_patterns(c, v, &events_path));
    let deadline_ms = deadline_ms(c, table, path, HANDLER_DEADLINE_MS);
    Some(HandlerDecl {
        name: name?,
        events: events?,
        deadline_ms: deadline_ms?,
    })
}

/// A non-empty list of event kinds (`contact.created`) or prefixes ending
/// in `.` (`ticket.`).
fn event_patterns(c: &mut Checker, value: &Value, path: &str) -> Option<Vec<String>> {
    let Value::Array(items) = value else {
        c.expected(path, "an array of event kinds", value);
        return None;
    };
    if items.is_empty() {
        c.issue(path, "at least one event kind is required");
        return None;
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let Some(kind) = c.string(item, &item_path) else {
            ok = false;
            continue;
        };
        if !is_event_pattern(kind) {
            c.issue(
                &item_path,
                format!(
                    "{kind:?} is not an event kind: expected dot-separated lower-case words \
                     (\"contact.created\"), or a prefix ending in '.' (\"ticket.\")"
                ),
            );
            ok = false;
        } else if out.iter().any(|k| k == kind) {
            c.issue(&item_path, format!("event {kind:?} is listed twice"));
            ok = false;
        } else {
            out.push(kind.to_owned());
        }
    }
    ok.then_some(out)
}

/// `word(.word)*` with an optional trailing `.`; a word is `[a-z][a-z0-9_-]*`.
fn is_event_pattern(text: &str) -> bool {
    let body = text.strip_suffix('.').unwrap_or(text);
    text.len() <= 128
        && !body.is_empty()
        && body.split('.').all(|word| {
            let mut chars = word.chars();
            chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        })
}

fn check_schedule(c: &mut Checker, value: &Value, path: &str) -> Option<ScheduleDecl> {
    let table = c.table(value, path)?;
    c.unknown_keys(table, path, SCHEDULE_KEYS);
    let name = entry_name(c, table, path, "schedule");
    let cron = c.required_string(table, path, "cron").and_then(|cron| {
        match crm_core::automation::parse_cron(cron.trim()) {
            Ok(_) => Some(cron.trim().to_owned()),
            Err(problem) => {
                c.issue(
                    &join(path, "cron"),
                    format!("{cron:?} is not a valid cron expression (5 fields, UTC: minute hour day month weekday): {problem}"),
                );
                None
            }
        }
    });
    let deadline_ms = deadline_ms(c, table, path, SCHEDULE_DEADLINE_MS);
    Some(ScheduleDecl {
        name: name?,
        cron: cron?,
        deadline_ms: deadline_ms?,
    })
}

fn check_action(c: &mut Checker, value: &Value, path: &str) -> Option<ActionDecl> {
    let table = c.table(value, path)?;
    c.unknown_keys(table, path, ACTION_KEYS);
    let name = entry_name(c, table, path, "action");
    let description = c
        .optional_string(table, path, "description")
        .map(|d| d.map(str::to_owned));
    Some(ActionDecl {
        name: name?,
        description: description?,
    })
}

fn check_webhook(c: &mut Checker, value: &Value, path: &str) -> Option<WebhookDecl> {
    let table = c.table(value, path)?;
    c.unknown_keys(table, path, WEBHOOK_KEYS);
    let name = entry_name(c, table, path, "webhook");
    let description = c
        .optional_string(table, path, "description")
        .map(|d| d.map(str::to_owned));
    let deadline_ms = deadline_ms(c, table, path, HANDLER_DEADLINE_MS);
    Some(WebhookDecl {
        name: name?,
        description: description?,
        deadline_ms: deadline_ms?,
    })
}

fn check_function(c: &mut Checker, value: &Value, path: &str) -> Option<FunctionDecl> {
    let table = c.table(value, path)?;
    c.unknown_keys(table, path, FUNCTION_KEYS);

    let name = c.required_string(table, path, "name").and_then(|name| {
        if is_name(name, 0, 62) {
            Some(name.to_owned())
        } else {
            c.issue(
                &join(path, "name"),
                format!("{name:?} is not a valid function name ([a-z][a-z0-9-]{{0,62}})"),
            );
            None
        }
    });
    let kind = c
        .required_string(table, path, "kind")
        .and_then(|kind| match kind {
            "validate" => Some(FunctionKind::Validate),
            "score" => Some(FunctionKind::Score),
            other => {
                c.issue(
                    &join(path, "kind"),
                    format!(r#"unknown kind {other:?} (expected "validate" or "score")"#),
                );
                None
            }
        });
    let entities_path = join(path, "entities");
    let entities = c
        .required(table, path, "entities")
        .and_then(|v| c.entities(v, &entities_path))
        .and_then(|list| {
            if list.is_empty() {
                c.issue(&entities_path, "at least one entity is required");
                None
            } else {
                Some(list)
            }
        });
    let input =
        c.required_string(table, path, "input").and_then(|input| {
            match check_selection_set(input) {
                Ok(()) => Some(input.trim().to_owned()),
                Err(problem) => {
                    c.issue(&join(path, "input"), problem);
                    None
                }
            }
        });
    let on_failure = c
        .optional_string(table, path, "on-failure")
        .and_then(|policy| match policy {
            None => Some(None),
            Some("fail-open") => Some(Some(FailurePolicy::FailOpen)),
            Some("fail-closed") => Some(Some(FailurePolicy::FailClosed)),
            Some(other) => {
                c.issue(
                    &join(path, "on-failure"),
                    format!(r#"unknown policy {other:?} (expected "fail-open" or "fail-closed")"#),
                );
                None
            }
        });
    let fuel_path = join(path, "fuel-per-record");
    let fuel_per_record = match table.get("fuel-per-record") {
        None => Some(None),
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 => Some(Some(n)),
            _ => {
                c.issue(
                    &fuel_path,
                    format!("expected a positive integer, found {}", describe(v)),
                );
                None
            }
        },
    };

    let kind = kind?;
    Some(FunctionDecl {
        name: name?,
        kind,
        entities: entities?,
        input: input?,
        on_failure: on_failure?.unwrap_or(kind.default_failure_policy()),
        fuel_per_record: fuel_per_record?,
    })
}

fn describe(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        other => type_name(other).to_owned(),
    }
}

/// A GraphQL selection set: starts with `{`, braces balance (outside string
/// literals), and nothing follows the closing brace. The GraphQL layer
/// checks it against the schema when the plugin is installed.
fn check_selection_set(input: &str) -> Result<(), String> {
    let text = input.trim();
    if !text.starts_with('{') {
        return Err("must be a GraphQL selection set starting with '{'".into());
    }
    let mut depth: usize = 0;
    let mut in_string = false;
    let mut escaped = false;
    for (i, ch) in text.char_indices() {
        if in_string {
            match ch {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match ch {
            '"' => in_string = true,
            '{' => depth += 1,
            '}' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced braces: unexpected '}}' at offset {i}"))?;
                if depth == 0 && !text[i + 1..].trim().is_empty() {
                    return Err(format!(
                        "unexpected text after the closing '}}' at offset {i}"
                    ));
                }
            }
            _ => {}
        }
    }
    match (depth, in_string) {
        (_, true) => Err("unterminated string literal".into()),
        (0, false) => Ok(()),
        (n, false) => Err(format!("unbalanced braces: {n} '{{' not closed")),
    }
}

fn check_capabilities(c: &mut Checker, value: &Value) -> Option<Capabilities> {
    let table = c.table(value, "capabilities")?;
    c.unknown_keys(table, "capabilities", CAPABILITY_KEYS);
    let read = match table.get("read") {
        None => Some(Vec::new()),
        Some(v) => c.capability_entities(v, "capabilities.read"),
    };
    let write = match table.get("write") {
        None => Some(Vec::new()),
        Some(v) => c.capability_entities(v, "capabilities.write"),
    };
    let mut flag = |key: &str| match table.get(key) {
        None => Some(false),
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            c.expected(&format!("capabilities.{key}"), "bool", other);
            None
        }
    };
    let pii_read = flag("pii-read");
    let kv = flag("kv");
    let emit = flag("emit");
    let http = match table.get("http") {
        None => Some(Vec::new()),
        Some(v) => check_origins(c, v, "capabilities.http"),
    };
    Some(Capabilities {
        read: read?,
        pii_read: pii_read?,
        write: write?,
        kv: kv?,
        emit: emit?,
        http: http?,
    })
}

/// Origins for outbound HTTP, each in its one spelling, without repeats.
fn check_origins(c: &mut Checker, value: &Value, path: &str) -> Option<Vec<String>> {
    let Value::Array(items) = value else {
        c.expected(
            path,
            "an array of origins such as \"https://erp.example.com\"",
            value,
        );
        return None;
    };
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let Some(text) = c.string(item, &item_path) else {
            ok = false;
            continue;
        };
        match Origin::parse(text) {
            Ok(origin) => {
                let origin = origin.to_string();
                if !out.contains(&origin) {
                    out.push(origin);
                }
            }
            Err(message) => {
                c.issue(&item_path, message);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn check_config(c: &mut Checker, value: &Value) -> Option<BTreeMap<String, ConfigField>> {
    let table = c.table(value, "config")?;
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (key, field) in table {
        let path = format!("config.{key}");
        if !is_config_key(key) {
            c.issue(
                &path,
                format!("{key:?} is not a valid configuration key ([a-z][a-z0-9_-]{{0,62}})"),
            );
            ok = false;
            continue;
        }
        match check_config_field(c, field, &path) {
            Some(f) => {
                out.insert(key.clone(), f);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn is_config_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && key.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn check_config_field(c: &mut Checker, value: &Value, path: &str) -> Option<ConfigField> {
    let table = c.table(value, path)?;
    c.unknown_keys(table, path, CONFIG_FIELD_KEYS);
    let ty =
        c.required_string(table, path, "type")
            .and_then(|name| match ConfigType::from_name(name) {
                Some(ty) => Some(ty),
                None => {
                    c.issue(
                        &join(path, "type"),
                        format!("unknown type {name:?} (expected {})", ConfigType::NAMES),
                    );
                    None
                }
            });
    let description = c
        .optional_string(table, path, "description")
        .map(|d| d.map(str::to_owned));

    let values_path = join(path, "values");
    let values = match (ty, table.get("values")) {
        (Some(ConfigType::Enum), None) => {
            c.issue(
                &values_path,
                "missing required key (an enum lists its values)",
            );
            None
        }
        (Some(ConfigType::Enum), Some(v)) => check_enum_values(c, v, &values_path),
        (Some(_), Some(_)) => {
            c.issue(&values_path, r#"only allowed when type = "enum""#);
            None
        }
        (_, _) => Some(Vec::new()),
    };

    let ty = ty?;
    let values = values?;
    let field = ConfigField {
        ty,
        default: None,
        description: description?,
        values,
    };
    let default = match table.get("default") {
        None => None,
        Some(_) if ty == ConfigType::Secret => {
            c.issue(
                &join(path, "default"),
                "a secret has no default: the tenant's operator sets it with enablePlugin(config:)",
            );
            return None;
        }
        Some(v) => {
            let problems = check_value(&field, v, &join(path, "default"));
            if !problems.is_empty() {
                c.issues.extend(problems);
                return None;
            }
            Some(v.clone())
        }
    };
    Some(ConfigField { default, ..field })
}

fn check_enum_values(c: &mut Checker, value: &Value, path: &str) -> Option<Vec<String>> {
    let Value::Array(items) = value else {
        c.expected(path, "an array of strings", value);
        return None;
    };
    if items.is_empty() {
        c.issue(path, "an enum needs at least one value");
        return None;
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let s = c.string(item, &item_path)?;
        if out.iter().any(|v| v == s) {
            c.issue(&item_path, format!("value {s:?} is listed twice"));
            return None;
        }
        out.push(s.to_owned());
    }
    Some(out)
}
