//! What `orchestrator import-running` reads of the live realtime bot containers: labels,
//! environment and image, as `docker inspect` shows them ([`ContainerFacts`]).
//!
//! Why it exists: the reconciler only needs labels and states ([`Docker::observe`]); taking
//! over from the original runtime needs the environment, where a container carries its record
//! (`crate::takeover::container` reads it back). Same filter as the reconciler: managed,
//! `runtime.type=realtime`, of this `--instance`.

use std::collections::BTreeMap;

use bollard::query_parameters::{InspectContainerOptions, ListContainersOptions};

use super::{status_of, Docker, DockerError, Result, CALL_TIMEOUT};
use crate::observed::State;

/// What `docker inspect` shows of one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerFacts {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `KEY=VALUE`, as the engine gives it.
    pub env: Vec<String>,
    /// The image the container was created from, as its spec named it.
    pub image: String,
}

impl Docker {
    /// Every live (running, paused, restarting) managed realtime container of this instance,
    /// newest first (the one the reconciler keeps when a bot has several).
    pub async fn realtime_facts(&self) -> Result<Vec<ContainerFacts>> {
        let opts = ListContainersOptions { all: true, filters: Some(self.filters()), ..Default::default() };
        let mut list = self.call("list containers", CALL_TIMEOUT, self.client.list_containers(Some(opts))).await?;
        list.sort_by_key(|c| std::cmp::Reverse(c.created.unwrap_or(0)));
        let mut out = Vec::new();
        for c in list {
            let (Some(id), Some(state)) = (c.id, super::state_of(c.state.as_ref())) else { continue };
            if !matches!(state, State::Running | State::Paused | State::Restarting) {
                continue;
            }
            let f = self.client.inspect_container(&id, None::<InspectContainerOptions>);
            let info = match self.call("inspect container", CALL_TIMEOUT, f).await {
                Ok(i) => i,
                Err(DockerError::Api(e)) if status_of(&e) == Some(404) => continue, // removed meanwhile
                Err(e) => return Err(e),
            };
            let config = info.config.unwrap_or_default();
            out.push(ContainerFacts {
                name: info.name.unwrap_or_default().trim_start_matches('/').to_string(),
                labels: config.labels.unwrap_or_default().into_iter().collect(),
                env: config.env.unwrap_or_default(),
                image: config.image.unwrap_or_default(),
            });
        }
        Ok(out)
    }
}
