//! Kubernetes mode, first slice: the objects the controller will create, built as pure functions
//! over `k8s-openapi` types, and the planner that decides what to do with the ones it finds
//! (docs/contract.md §5.7, D21, D24, D32, D33; issue #12), the `controller` command's loop and its
//! opt-in leader election and its :9477 query API (realtime pods proxied by [`podaddr`], one-shot
//! queries as query Jobs by [`queryjobs`], the server put together by [`queryserve`]);
//! docs/kubernetes.md says what exists and what is next.
//!
//! Why a module of the orchestrator rather than a crate: the builders reuse the orchestrator's
//! record validation ([`crate::model`]), the Docker spec's environment ([`crate::spec`]), the
//! resource formula ([`crate::limits`]) and the cron parser ([`crate::schedule::cron`]); a crate
//! would have to move those out first. `k8s-openapi` (types only, one API version) adds about a
//! minute to a clean build of the orchestrator, not to incremental ones.
//!
//! # Layout
//!
//! - [`settings`]: the controller's settings that shape every object.
//! - [`prepare`]: a record's checks, labels, hash and resources; why a record is skipped.
//! - [`pod`], [`cronjob`], [`job`]: the bot pod, the schedule CronJob, the query Job.
//! - [`podparts`]: security contexts, volumes and containers every pod shares.
//! - [`env`](mod@env): containers' environment, from the Docker spec's.
//! - [`names`], [`labels`]: DNS-1123 names, the label sanitiser, label and annotation keys.
//! - [`hash`], [`gojson`]: the original's `config-hash` recipe, with Go's JSON encoding.
//! - [`cronexpr`]: a stored schedule as a CronJob's `schedule` and `timeZone`.
//! - [`resources`]: Kubernetes quantities and a bot container's requests and limits.
//! - [`plan`]: the reconcile planner for pods and CronJobs.
//! - [`desired`], [`seen`]: stored records as desired objects; listed objects as the planner sees them.
//! - [`client`]: the API client (kubeconfig or in-cluster, rustls + ring).
//! - [`cmstore`]: `--desired-state configmaps`: the desired bots as one ConfigMap each, shared by
//!   every replica (ingest writes them, the controller lists them).
//! - [`cmskip`]: with ConfigMaps, a skipped bot's reason as an annotation on its ConfigMap.
//! - [`controller`]: the reconcile loop that lists, plans and applies (while leading).
//! - [`lease`]: leader election's decision on a Lease (create, take over, renew, follow).
//! - [`elector`]: `--leader-elect`: the Lease read and written, leadership published.
//! - [`podaddr`]: a realtime query's address: the bot pod's IP while it runs (the proxy's lookup).
//! - [`queryjobs`]: the query server's Kubernetes half: query Jobs created, polled, their result
//!   read; the Job status as an outcome, pure.
//! - [`queryserve`]: the controller's :9477 server put together (index over either desired state).
//! - [`run`]: `orchestrator controller` put together (health, query API, ingest, loop).

pub mod client;
pub mod cmskip;
pub mod cmstore;
pub mod controller;
pub mod cronexpr;
pub mod cronjob;
pub mod desired;
pub mod elector;
pub mod env;
pub mod gojson;
pub mod hash;
pub mod job;
pub mod labels;
pub mod lease;
pub mod names;
pub mod plan;
pub mod pod;
pub mod podaddr;
pub mod podparts;
pub mod prepare;
pub mod queryjobs;
pub mod queryserve;
pub mod resources;
pub mod run;
pub mod seen;
pub mod settings;

pub use cronjob::schedule_cronjob;
pub use job::{query_job, QueryJob};
pub use pod::bot_pod;
pub use prepare::{Built, Skip};
pub use settings::KubeSettings;
