//! The admin API's routes as one table ([`ROUTES`]): the router ([`route`]) matches requests
//! against it, and a test checks it against the OpenAPI document (`openapi/admin.json`) both
//! ways, so a route cannot be added without being documented. Pure.

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    ListBots,
    GetBot,
    PutBot,
    DeleteBot,
    BotRuns,
    EnableBot,
    DisableBot,
    /// `restart ID`: stop the bot's container and let the reconciler start it again.
    RestartBot,
    /// The event history (`orchestrator events`).
    Events,
    OpenApi,
    /// The :9477 query API's document (not served on :9477: its other paths must stay 404s).
    QueryOpenApi,
    /// The status page: every bot (HTML, [`crate::ui`]).
    Ui,
    /// The status page of one bot (HTML).
    UiBot,
    /// Asks for an on-demand run (`run ID`).
    RunBot,
    /// The SDK's keys in the bot's stored state (`state ID list`).
    StateKeys,
    /// One key's JSON value (`state ID get KEY`).
    StateGet,
    /// Removes one key (`state ID rm KEY`).
    StateRemove,
}

impl Route {
    /// Whether the route is a page for a browser (HTML answers, HTTP Basic accepted).
    pub fn is_page(self) -> bool {
        matches!(self, Route::Ui | Route::UiBot)
    }
}

/// Every route: method, path template (`{id}` and `{key}` are each one non-empty path segment,
/// percent-decoded), what it is.
pub const ROUTES: &[(&str, &str, Route)] = &[
    ("GET", "/bots", Route::ListBots),
    ("GET", "/bots/{id}", Route::GetBot),
    ("PUT", "/bots/{id}", Route::PutBot),
    ("DELETE", "/bots/{id}", Route::DeleteBot),
    ("GET", "/bots/{id}/runs", Route::BotRuns),
    ("POST", "/bots/{id}/enable", Route::EnableBot),
    ("POST", "/bots/{id}/disable", Route::DisableBot),
    ("POST", "/bots/{id}/restart", Route::RestartBot),
    ("POST", "/bots/{id}/run", Route::RunBot),
    ("GET", "/bots/{id}/state", Route::StateKeys),
    ("GET", "/bots/{id}/state/{key}", Route::StateGet),
    ("DELETE", "/bots/{id}/state/{key}", Route::StateRemove),
    ("GET", "/events", Route::Events),
    ("GET", "/openapi.json", Route::OpenApi),
    ("GET", "/openapi/query.json", Route::QueryOpenApi),
    ("GET", "/ui", Route::Ui),
    ("GET", "/ui/bots/{id}", Route::UiBot),
];

/// Why a request matched no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoRoute {
    /// No template matches the path (404).
    NotFound,
    /// A template matches the path, not with this method (405).
    MethodNotAllowed,
}

/// The values a path template names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pub id: Option<String>,
    pub key: Option<String>,
}

/// The route of `method` and `path` (a trailing `/` is ignored), with the values its template
/// names.
pub fn route(method: &str, path: &str) -> Result<(Route, Params), NoRoute> {
    let path = path.trim_end_matches('/');
    let mut path_matched = false;
    for (m, template, r) in ROUTES {
        if let Some(params) = matches(template, path) {
            if *m == method {
                return Ok((*r, params));
            }
            path_matched = true;
        }
    }
    Err(if path_matched { NoRoute::MethodNotAllowed } else { NoRoute::NotFound })
}

/// The template's values when `path` fits `template`.
fn matches(template: &str, path: &str) -> Option<Params> {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    let mut params = Params::default();
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(params),
            (Some("{id}"), Some(seg)) if !seg.is_empty() => params.id = Some(crate::http::percent_decode(seg)?),
            (Some("{key}"), Some(seg)) if !seg.is_empty() => params.key = Some(crate::http::percent_decode(seg)?),
            (Some(a), Some(b)) if a == b => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_to_routes() {
        use NoRoute::*;
        use Route::*;
        let id = |s: &str| Params { id: Some(s.to_string()), key: None };
        let key = |i: &str, k: &str| Params { id: Some(i.to_string()), key: Some(k.to_string()) };
        let none = Params::default;
        for (method, path, want) in [
            ("GET", "/bots", Ok((ListBots, none()))),
            ("GET", "/bots/", Ok((ListBots, none()))),
            ("GET", "/bots/a", Ok((GetBot, id("a")))),
            ("PUT", "/bots/a", Ok((PutBot, id("a")))),
            ("DELETE", "/bots/a/", Ok((DeleteBot, id("a")))),
            ("GET", "/bots/a/runs", Ok((BotRuns, id("a")))),
            ("POST", "/bots/a/enable", Ok((EnableBot, id("a")))),
            ("POST", "/bots/a/disable", Ok((DisableBot, id("a")))),
            ("POST", "/bots/a/restart", Ok((RestartBot, id("a")))),
            ("POST", "/bots/a/run", Ok((RunBot, id("a")))),
            ("GET", "/bots/a/run", Err(MethodNotAllowed)),
            ("GET", "/bots/a/state", Ok((StateKeys, id("a")))),
            ("GET", "/bots/a/state/k", Ok((StateGet, key("a", "k")))),
            ("DELETE", "/bots/a/state/my%20key", Ok((StateRemove, key("a", "my key")))),
            ("PUT", "/bots/a/state/k", Err(MethodNotAllowed)),
            ("GET", "/bots/a/state/k/x", Err(NotFound)),
            ("GET", "/events", Ok((Events, none()))),
            ("GET", "/events/", Ok((Events, none()))),
            ("POST", "/events", Err(MethodNotAllowed)),
            ("GET", "/bots/a/restart", Err(MethodNotAllowed)),
            ("GET", "/openapi.json", Ok((OpenApi, none()))),
            ("GET", "/openapi/query.json", Ok((QueryOpenApi, none()))),
            ("GET", "/ui", Ok((Ui, none()))),
            ("GET", "/ui/", Ok((Ui, none()))),
            ("GET", "/ui/bots/a", Ok((UiBot, id("a")))),
            ("GET", "/ui/bots/%3Cb%3E%20x", Ok((UiBot, id("<b> x")))),
            ("GET", "/bots/a%2Fb", Ok((GetBot, id("a/b")))),
            ("GET", "/bots/%zz", Err(NotFound)),
            ("POST", "/ui", Err(MethodNotAllowed)),
            ("GET", "/ui/bots", Err(NotFound)),
            ("POST", "/bots", Err(MethodNotAllowed)),
            ("POST", "/bots/a", Err(MethodNotAllowed)),
            ("GET", "/bots/a/enable", Err(MethodNotAllowed)),
            ("DELETE", "/bots/a/runs", Err(MethodNotAllowed)),
            ("GET", "/bots/a/b", Err(NotFound)),
            ("GET", "/bots/a/runs/x", Err(NotFound)),
            ("GET", "/bots//runs", Err(NotFound)),
            ("GET", "/", Err(NotFound)),
            ("GET", "/other", Err(NotFound)),
        ] {
            assert_eq!(route(method, path), want, "{method} {path}");
        }
    }

    /// Every route of the table is in `openapi/admin.json` with its method, and every operation
    /// of the document is a route of the table.
    #[test]
    fn the_table_and_the_openapi_document_agree() {
        let doc: serde_json::Value = serde_json::from_str(super::super::OPENAPI).expect("admin.json is JSON");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.0")), "an OpenAPI 3.0 document");
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, ops) in doc["paths"].as_object().expect("paths") {
            for method in ops.as_object().expect("operations").keys().filter(|k| *k != "parameters") {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
        documented.sort();
        let mut table: Vec<(String, String)> = ROUTES.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
        table.sort();
        assert_eq!(table, documented, "the route table and openapi/admin.json differ");
        // Each documented path resolves, through the router, to a route of the same method.
        for (m, p, r) in ROUTES {
            assert_eq!(route(m, &p.replace("{id}", "x").replace("{key}", "k")).map(|(got, _)| got), Ok(*r), "{m} {p}");
        }
    }
}
