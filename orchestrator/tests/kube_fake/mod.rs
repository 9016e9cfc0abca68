//! A stateful fake Kubernetes API server for the controller's tests: plain HTTP on an ephemeral
//! loopback port, reached by the real `kube` client through a kubeconfig ([`FakeApi::kubeconfig`]).
//!
//! It keeps objects per (group, resource, namespace, name) and emulates what the controller relies
//! on: list with `labelSelector` (`k=v`, `k==v`, `k!=v`, `k`, `!k`), get, create (409
//! `AlreadyExists`), replace (409 `Conflict` on a stale `resourceVersion`), delete (immediately, or
//! leaving the object terminating with a `deletionTimestamp` while [`FakeApi::hold_deletes`] is on),
//! a global `resourceVersion`, injected 500s ([`FakeApi::fail`]) or 409s ([`FakeApi::conflict`],
//! or for the next n requests only: [`FakeApi::conflict_times`]),
//! for any resource (Pods, CronJobs, Jobs, ConfigMaps, Leases). Every request is recorded as (API
//! group, resource, verb), as RBAC sees it. More than one client can reach the same state each by
//! its own address ([`FakeApi::door`]), and one door can be cut off ([`FakeApi::cut`]: every
//! request through it answers 500), as a replica that loses the API server while the others
//! keep it.
//!
//! A test plays the kubelet and the Job controller by writing an object's `status`
//! ([`FakeApi::set_status`]: a pod's phase, `podIP` and container readiness; a Job's conditions),
//! and a pod's log ([`FakeApi::set_log`], served as `pods/log` whatever container, tail or byte
//! limit is asked), and reads the options every delete was sent with ([`FakeApi::deletes`]:
//! `propagationPolicy`).
//!
//! It does not emulate: admission (Pod Security, quotas, webhooks, defaulting), validation of the
//! objects' schema (the goldens are validated offline by scripts/check-kubernetes.sh), scheduling,
//! a kubelet (pods stay in phase `Pending`, with no IP, unless a test sets another), the Job
//! controller (a Job's status changes only when a test sets it; `activeDeadlineSeconds` and
//! `ttlSecondsAfterFinished` are never applied), garbage collection by owner (a Job deleted with
//! any propagation policy leaves no pod because the fake never made one) or the Jobs a CronJob
//! would start, subresources other than `pods/log` (and its `container`, `tailLines` and
//! `limitBytes`), watch streams (answered 501: the controller does
//! not watch), patch, authentication and authorisation.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// (API group, resource, namespace, name).
type Key = (String, String, String, String);

/// One request as RBAC sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    pub group: String,
    pub resource: String,
    pub verb: String,
}

#[derive(Default)]
struct State {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    calls: Vec<(Call, String)>,
    /// (resource, name, the DeleteOptions body) of every delete.
    deletes: Vec<(String, String, Value)>,
    hold_deletes: bool,
    /// (resource, verb, status code) answered with that error while set.
    fail: Option<(String, String, u16)>,
    /// How many more requests `fail` answers before it clears itself (`None`: until reset).
    fail_left: Option<usize>,
    /// Doors opened so far, and those cut off.
    doors: usize,
    cut: BTreeSet<usize>,
}

#[derive(Clone)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
    pub addr: SocketAddr,
    /// Which address of the server this handle is (0: the first).
    door: usize,
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response<Full<Bytes>> {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16()});
    respond(code, &body)
}

fn respond(code: StatusCode, v: &Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = code;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r
}

/// `labelSelector` as the API server reads it (equality and existence terms).
fn matches(selector: &str, labels: &serde_json::Map<String, Value>) -> bool {
    selector.split(',').map(str::trim).filter(|t| !t.is_empty()).all(|term| {
        let has = |k: &str, v: &str| labels.get(k).and_then(Value::as_str) == Some(v);
        if let Some((k, v)) = term.split_once("!=") {
            !has(k.trim(), v.trim())
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            has(k.trim(), v.trim())
        } else if let Some(k) = term.strip_prefix('!') {
            !labels.contains_key(k.trim())
        } else {
            labels.contains_key(term)
        }
    })
}

fn query_param(q: &str, name: &str) -> Option<String> {
    q.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| percent_decode(v))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/api/v1/namespaces/NS/RES[/NAME]` or `/apis/GROUP/VERSION/namespaces/NS/RES[/NAME]`.
fn route(path: &str) -> Option<(String, String, String, String, Option<String>)> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return None,
    };
    match rest {
        ["namespaces", ns, res] => Some((group, version, ns.to_string(), res.to_string(), None)),
        ["namespaces", ns, res, name] => {
            Some((group, version, ns.to_string(), res.to_string(), Some(name.to_string())))
        }
        ["namespaces", ns, res, name, sub] => {
            Some((group, version, ns.to_string(), format!("{res}/{sub}"), Some(name.to_string())))
        }
        _ => None,
    }
}

fn list_kind(items_kind: Option<&str>, resource: &str) -> String {
    match items_kind {
        Some(k) => format!("{k}List"),
        None => format!("{resource}List"),
    }
}

impl FakeApi {
    /// Starts the server on 127.0.0.1 at an ephemeral port; it runs until the runtime ends.
    pub async fn start() -> FakeApi {
        FakeApi::open(Arc::new(Mutex::new(State::default())), 0).await
    }

    /// Another address into the same server (same objects, same log), for a second client that
    /// [`FakeApi::cut`] can cut off alone; its [`FakeApi::kubeconfig`] points at it.
    pub async fn door(&self) -> FakeApi {
        let n = {
            let mut st = self.lock();
            st.doors += 1;
            st.doors
        };
        FakeApi::open(self.state.clone(), n).await
    }

    async fn open(state: Arc<Mutex<State>>, door: usize) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fake API server");
        let addr = listener.local_addr().expect("local addr");
        let api = FakeApi { state, addr, door };
        let served = api.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let api = served.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let api = api.clone();
                        async move { Ok::<_, Infallible>(api.handle(req).await) }
                    });
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
        api
    }

    /// While on, every request through this door answers 500 (recorded all the same).
    pub fn cut(&self, on: bool) {
        let mut st = self.lock();
        if on {
            st.cut.insert(self.door);
        } else {
            st.cut.remove(&self.door);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes a kubeconfig for this server (namespace `ns`) into `dir`, and returns its path.
    pub fn kubeconfig(&self, dir: &Path, ns: &str) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{}\n\
             users:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: {ns}\n\
             current-context: fake\n",
            self.addr
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    /// Every distinct (group, resource, verb) received so far.
    pub fn calls(&self) -> BTreeSet<Call> {
        self.lock().calls.iter().map(|(c, _)| c.clone()).collect()
    }

    /// How many requests so far were writes (create, update, patch, delete).
    pub fn writes(&self) -> usize {
        self.lock().calls.iter().filter(|(c, _)| !matches!(c.verb.as_str(), "get" | "list" | "watch")).count()
    }

    /// The log of (verb, resource, name) received so far.
    pub fn log(&self) -> Vec<(String, String, String)> {
        self.lock().calls.iter().map(|(c, n)| (c.verb.clone(), c.resource.clone(), n.clone())).collect()
    }

    pub fn clear_log(&self) {
        self.lock().calls.clear();
    }

    /// The stored objects of `resource` in `ns`, by name.
    pub fn objects(&self, group: &str, resource: &str, ns: &str) -> BTreeMap<String, Value> {
        self.lock()
            .objects
            .iter()
            .filter(|((g, r, n, _), _)| g == group && r == resource && n == ns)
            .map(|((_, _, _, name), v)| (name.clone(), v.clone()))
            .collect()
    }

    /// Stores `obj` as something already there (made by another controller), not as a request.
    pub fn seed(&self, group: &str, resource: &str, ns: &str, mut obj: Value) {
        let mut st = self.lock();
        st.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(st.rv.to_string());
        obj["metadata"]["namespace"] = json!(ns);
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
        st.objects.insert((group.into(), resource.into(), ns.into(), name), obj);
    }

    /// What a kubelet or the Job controller would do: replaces the `status` of an object.
    pub fn set_status(&self, group: &str, resource: &str, ns: &str, name: &str, status: Value) {
        let mut st = self.lock();
        st.rv += 1;
        let rv = st.rv.to_string();
        if let Some(o) = st.objects.get_mut(&(group.into(), resource.into(), ns.into(), name.into())) {
            o["status"] = status;
            o["metadata"]["resourceVersion"] = json!(rv);
        }
    }

    /// What the Job controller would write once a Job's pod exited 0: a succeeded count and the
    /// `Complete` condition.
    pub fn complete_job(&self, ns: &str, name: &str) {
        let status = json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]});
        self.set_status("batch", "jobs", ns, name, status);
    }

    /// What the kubelet would serve as `pods/log` of `pod` (whatever container or tail is asked).
    pub fn set_log(&self, ns: &str, pod: &str, text: &str) {
        self.lock().objects.insert((String::new(), "pods/log".into(), ns.into(), pod.into()), json!(text));
    }

    /// (resource, name, DeleteOptions body, `null` when none) of every delete received so far.
    pub fn deletes(&self) -> Vec<(String, String, Value)> {
        self.lock().deletes.clone()
    }

    /// What a kubelet would do: sets a pod's `status.phase`.
    pub fn set_phase(&self, ns: &str, pod: &str, phase: &str) {
        let mut st = self.lock();
        st.rv += 1;
        let rv = st.rv.to_string();
        if let Some(p) = st.objects.get_mut(&(String::new(), "pods".into(), ns.into(), pod.into())) {
            p["status"]["phase"] = json!(phase);
            p["metadata"]["resourceVersion"] = json!(rv);
        }
    }

    /// While on, a delete leaves the object terminating (a `deletionTimestamp`), as a pod is
    /// while its containers stop; [`FakeApi::finish_deletes`] removes those objects.
    pub fn hold_deletes(&self, on: bool) {
        self.lock().hold_deletes = on;
    }

    /// Answers every `verb` on `resource` with 500 `InternalError` (recorded all the same) until
    /// called with `None`.
    pub fn fail(&self, what: Option<(&str, &str)>) {
        let mut st = self.lock();
        st.fail = what.map(|(r, v)| (r.to_string(), v.to_string(), 500));
        st.fail_left = None;
    }

    /// Answers every `verb` on `resource` with 409 (`AlreadyExists` for create, else `Conflict`),
    /// as when another client wrote first, until called with `None`.
    pub fn conflict(&self, what: Option<(&str, &str)>) {
        let mut st = self.lock();
        st.fail = what.map(|(r, v)| (r.to_string(), v.to_string(), 409));
        st.fail_left = None;
    }

    /// [`FakeApi::conflict`] for the next `n` matching requests only, as when another replica
    /// wrote first `n` times.
    pub fn conflict_times(&self, resource: &str, verb: &str, n: usize) {
        let mut st = self.lock();
        st.fail = Some((resource.to_string(), verb.to_string(), 409));
        st.fail_left = Some(n);
    }

    pub fn finish_deletes(&self) {
        self.lock().objects.retain(|_, v| v["metadata"].get("deletionTimestamp").is_none());
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return status(StatusCode::BAD_REQUEST, "BadRequest", "unreadable body"),
        };
        let Some((group, version, ns, resource, name)) = route(&path) else {
            return status(StatusCode::NOT_FOUND, "NotFound", &format!("no route for {path}"));
        };
        let watch = query_param(&query, "watch").is_some_and(|w| w == "true" || w == "1");
        let verb = match (&method, &name) {
            (&Method::GET, None) if watch => "watch",
            (&Method::GET, None) => "list",
            (&Method::GET, Some(_)) => "get",
            (&Method::POST, None) => "create",
            (&Method::PUT, Some(_)) => "update",
            (&Method::PATCH, Some(_)) => "patch",
            (&Method::DELETE, Some(_)) => "delete",
            (&Method::DELETE, None) => "deletecollection",
            _ => return status(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "unsupported"),
        };
        let mut st = self.lock();
        let call = Call { group: group.clone(), resource: resource.clone(), verb: verb.into() };
        st.calls.push((call, name.clone().unwrap_or_default()));
        if st.cut.contains(&self.door) {
            return status(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "injected failure (door cut)");
        }
        let injected = st.fail.as_ref().is_some_and(|(r, v, _)| *r == resource && v == verb);
        if injected {
            if let Some(left) = st.fail_left.as_mut() {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    // This is the last one answered with the error.
                    let code = st.fail.take().map_or(500, |f| f.2);
                    st.fail_left = None;
                    return match (code, verb) {
                        (409, "create") => status(StatusCode::CONFLICT, "AlreadyExists", "injected: already exists"),
                        (409, _) => {
                            status(StatusCode::CONFLICT, "Conflict", "injected conflict: the object has been modified")
                        }
                        _ => status(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "injected failure"),
                    };
                }
            }
        }
        match &st.fail {
            // What a real server answers the loser of a race: AlreadyExists on create, else Conflict.
            Some((r, v, 409)) if *r == resource && v == verb && verb == "create" => {
                return status(StatusCode::CONFLICT, "AlreadyExists", "injected: already exists");
            }
            Some((r, v, 409)) if *r == resource && v == verb => {
                return status(StatusCode::CONFLICT, "Conflict", "injected conflict: the object has been modified");
            }
            Some((r, v, _)) if *r == resource && v == verb => {
                return status(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "injected failure");
            }
            _ => {}
        }
        let key = |n: &str| (group.clone(), resource.clone(), ns.clone(), n.to_string());
        match verb {
            "list" => {
                let selector = query_param(&query, "labelSelector").unwrap_or_default();
                let items: Vec<Value> = st
                    .objects
                    .iter()
                    .filter(|((g, r, n, _), _)| *g == group && *r == resource && *n == ns)
                    .filter(|(_, v)| {
                        let empty = serde_json::Map::new();
                        matches(&selector, v["metadata"]["labels"].as_object().unwrap_or(&empty))
                    })
                    .map(|(_, v)| v.clone())
                    .collect();
                let kind = list_kind(items.first().and_then(|i| i["kind"].as_str()), &resource);
                let api_version = if group.is_empty() { version.clone() } else { format!("{group}/{version}") };
                respond(
                    StatusCode::OK,
                    &json!({"apiVersion": api_version, "kind": kind,
                        "metadata": {"resourceVersion": st.rv.to_string()}, "items": items}),
                )
            }
            "get" => match st.objects.get(&key(name.as_deref().unwrap_or_default())) {
                // A pod's log (`pods/log`), as the kubelet serves it: plain text.
                Some(Value::String(text)) => {
                    let mut r = Response::new(Full::new(Bytes::from(text.clone())));
                    r.headers_mut()
                        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain"));
                    r
                }
                Some(v) => respond(StatusCode::OK, v),
                None => status(StatusCode::NOT_FOUND, "NotFound", "not found"),
            },
            "create" => {
                let Ok(mut obj) = serde_json::from_slice::<Value>(&body) else {
                    return status(StatusCode::BAD_REQUEST, "BadRequest", "body is not JSON");
                };
                let Some(n) = obj["metadata"]["name"].as_str().map(str::to_string) else {
                    return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", "metadata.name is required");
                };
                if st.objects.contains_key(&key(&n)) {
                    return status(
                        StatusCode::CONFLICT,
                        "AlreadyExists",
                        &format!("{resource} \"{n}\" already exists"),
                    );
                }
                st.rv += 1;
                obj["metadata"]["resourceVersion"] = json!(st.rv.to_string());
                obj["metadata"]["namespace"] = json!(ns);
                obj["metadata"]["uid"] = json!(format!("uid-{}", st.rv));
                if resource == "pods" {
                    obj["status"] = json!({"phase": "Pending"});
                }
                st.objects.insert(key(&n), obj.clone());
                respond(StatusCode::CREATED, &obj)
            }
            "update" => {
                let n = name.unwrap_or_default();
                let Ok(mut obj) = serde_json::from_slice::<Value>(&body) else {
                    return status(StatusCode::BAD_REQUEST, "BadRequest", "body is not JSON");
                };
                let Some(old) = st.objects.get(&key(&n)).cloned() else {
                    return status(StatusCode::NOT_FOUND, "NotFound", "not found");
                };
                let sent = obj["metadata"]["resourceVersion"].as_str().unwrap_or_default();
                if sent != old["metadata"]["resourceVersion"].as_str().unwrap_or_default() {
                    return status(
                        StatusCode::CONFLICT,
                        "Conflict",
                        "the object has been modified; please apply your changes to the latest version and try again",
                    );
                }
                st.rv += 1;
                obj["metadata"]["resourceVersion"] = json!(st.rv.to_string());
                obj["metadata"]["uid"] = old["metadata"]["uid"].clone();
                st.objects.insert(key(&n), obj.clone());
                respond(StatusCode::OK, &obj)
            }
            "delete" => {
                let n = name.unwrap_or_default();
                let options = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
                st.deletes.push((resource.clone(), n.clone(), options));
                if !st.objects.contains_key(&key(&n)) {
                    return status(StatusCode::NOT_FOUND, "NotFound", "not found");
                }
                st.rv += 1;
                let rv = st.rv.to_string();
                if st.hold_deletes {
                    let obj = st.objects.get_mut(&key(&n)).expect("checked above");
                    obj["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
                    obj["metadata"]["resourceVersion"] = json!(rv);
                    let obj = obj.clone();
                    respond(StatusCode::OK, &obj)
                } else {
                    let obj = st.objects.remove(&key(&n)).expect("checked above");
                    respond(StatusCode::OK, &obj)
                }
            }
            _ => status(StatusCode::NOT_IMPLEMENTED, "NotImplemented", &format!("{verb} is not emulated")),
        }
    }
}
