//! The edges of `import-running` and `import-mongo`: read what runs (Docker's realtime bot
//! containers, or the cluster's bot pods and schedule CronJobs) or the export files, open the
//! desired-state store the command names (SQLite in `--data-dir`, or the ConfigMaps of
//! `--desired-state configmaps`), and hand both to [`super::import`]. Nothing is decided here.
//!
//! Calls on the cluster: list on pods and cronjobs (Kubernetes mode), and for the ConfigMap store
//! the calls its ingest makes (list, get, create, update on configmaps): all granted to the
//! controller by `deploy/kubernetes/rbac.yaml` already.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use ::kube::api::ListParams;
use ::kube::{Api, Client};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::Pod;

use super::mongo::{self, Collection, MongoError};
use super::{container, objects, Found, Report};
use crate::config::{Cli, DesiredState, ImportTarget as Target};
use crate::docker::{Docker, DockerError};
use crate::kube::client::{self, ConnectError};
use crate::kube::cmstore::{CmError, ConfigMapStore};
use crate::kube::labels;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum TakeoverError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    ConfigMaps(#[from] CmError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("cannot list the {what} in namespace {namespace}: {source}")]
    List { what: &'static str, namespace: String, source: ::kube::Error },
    #[error(transparent)]
    Mongo(#[from] MongoError),
}

/// The store the records go into.
enum Dest {
    Sqlite(Store),
    ConfigMaps(Box<ConfigMapStore>),
}

async fn cluster(t: &Target) -> Result<Client, TakeoverError> {
    Ok(client::connect(t.kubeconfig.as_deref()).await?)
}

async fn open(cli: &Cli, t: &Target, client: Option<&Client>) -> Result<Dest, TakeoverError> {
    Ok(match t.desired_state {
        DesiredState::Sqlite => Dest::Sqlite(Store::open(&cli.data_dir)?),
        DesiredState::ConfigMaps => {
            let c = match client {
                Some(c) => c.clone(),
                None => cluster(t).await?,
            };
            Dest::ConfigMaps(Box::new(ConfigMapStore::new(c, &t.namespace)))
        }
    })
}

async fn into(dest: &Dest, found: Vec<Found>, dry_run: bool) -> Result<Report, TakeoverError> {
    Ok(match dest {
        Dest::Sqlite(s) => {
            let known: BTreeSet<String> = s.list()?.into_iter().map(|(r, _)| r.id).collect();
            super::import(s, &known, found, dry_run).await
        }
        Dest::ConfigMaps(cm) => {
            let known: BTreeSet<String> = cm.list().await?.into_iter().map(|r| r.id).collect();
            super::import(cm.as_ref(), &known, found, dry_run).await
        }
    })
}

/// `import-running`: Docker's realtime bot containers (of `--instance`), or with `kubernetes`
/// the bot pods and schedule CronJobs in `--namespace`.
pub async fn import_running(cli: &Cli, t: &Target, kubernetes: bool) -> Result<Report, TakeoverError> {
    if !kubernetes {
        let docker = Docker::connect(&cli.docker_host, cli.host.instance.clone(), Arc::new(Metrics::default()))?;
        let found = docker
            .realtime_facts()
            .await?
            .into_iter()
            .map(|c| {
                let record = container::record(&c);
                let id = c.labels.get(the0_contract::labels::ID).cloned().unwrap_or_else(|| c.name.clone());
                Found { id, source: format!("container {}", c.name), record }
            })
            .collect();
        let dest = open(cli, t, None).await?;
        return into(&dest, found, t.dry_run).await;
    }
    let client = cluster(t).await?;
    let list = |what: &'static str| move |source| TakeoverError::List { what, namespace: t.namespace.clone(), source };
    let pods: Api<Pod> = Api::namespaced(client.clone(), &t.namespace);
    let by = |v: &str| ListParams::default().labels(&format!("{}={v}", labels::MANAGED_BY));
    let mut found = Vec::new();
    for p in pods.list(&by(labels::BOT_CONTROLLER)).await.map_err(list("pods"))?.items {
        let name = p.metadata.name.clone().unwrap_or_default();
        let id =
            p.metadata.labels.as_ref().and_then(|l| l.get(labels::BOT_ID)).cloned().unwrap_or_else(|| name.clone());
        found.push(Found { id, source: format!("pod {name}"), record: objects::pod_record(&p) });
    }
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), &t.namespace);
    for c in cronjobs.list(&by(labels::SCHEDULE_CONTROLLER)).await.map_err(list("cronjobs"))?.items {
        let name = c.metadata.name.clone().unwrap_or_default();
        let id = c
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(labels::SCHEDULE_ID))
            .cloned()
            .unwrap_or_else(|| name.clone());
        found.push(Found { id, source: format!("cronjob {name}"), record: objects::cronjob_record(&c) });
    }
    let dest = open(cli, t, Some(&client)).await?;
    into(&dest, found, t.dry_run).await
}

fn read(path: &Path, collection: Collection) -> Result<Vec<Found>, TakeoverError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| MongoError::Read { file: file.clone(), source })?;
    Ok(mongo::records(&file, &text, collection)?
        .into_iter()
        .map(|(at, rec)| Found { id: rec.id.clone(), source: format!("{file} {at}"), record: Ok(rec) })
        .collect())
}

/// `import-mongo`: the `bots` export, then the `bot_schedules` one. Both files are read whole
/// before anything is written.
pub async fn import_mongo(
    cli: &Cli,
    t: &Target,
    bots: &Path,
    schedules: Option<&Path>,
) -> Result<Report, TakeoverError> {
    let mut found = read(bots, Collection::Bots)?;
    if let Some(s) = schedules {
        found.extend(read(s, Collection::Schedules)?);
    }
    let dest = open(cli, t, None).await?;
    into(&dest, found, t.dry_run).await
}
