//! Where a running container answers on its networks: the query server proxies realtime queries
//! to `<ip>:9476` (docs/contract.md §4.3): the default bridge's address, else the first non-empty address
//! of its other networks (by network name, so the choice is stable).

use std::collections::HashMap;

use bollard::models::EndpointSettings;
use bollard::query_parameters::InspectContainerOptions;

use super::{status_of, Docker, DockerError, Result, CALL_TIMEOUT};

/// The address to reach a container at, from its networks (name → endpoint).
pub fn pick_ip(networks: &HashMap<String, EndpointSettings>) -> Option<String> {
    let ip_of = |e: &EndpointSettings| e.ip_address.clone().filter(|ip| !ip.is_empty());
    if let Some(ip) = networks.get("bridge").and_then(ip_of) {
        return Some(ip);
    }
    let mut names: Vec<&String> = networks.keys().collect();
    names.sort();
    names.into_iter().find_map(|n| networks.get(n).and_then(ip_of))
}

impl Docker {
    /// The container's address ([`pick_ip`]); `None` if it has none (network `none`, or stopped).
    /// A missing container is [`DockerError::Api`] with status 404.
    pub async fn container_ip(&self, id: &str) -> Result<Option<String>> {
        let f = self.client.inspect_container(id, None::<InspectContainerOptions>);
        let c = self.call("inspect container", CALL_TIMEOUT, f).await?;
        Ok(c.network_settings.and_then(|n| n.networks).and_then(|n| pick_ip(&n)))
    }
}

/// Whether a Docker error says the container does not exist.
pub fn is_not_found(e: &DockerError) -> bool {
    matches!(e, DockerError::Api(a) if status_of(a) == Some(404))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(entries: &[(&str, Option<&str>)]) -> HashMap<String, EndpointSettings> {
        entries
            .iter()
            .map(|(n, ip)| {
                (n.to_string(), EndpointSettings { ip_address: ip.map(str::to_string), ..Default::default() })
            })
            .collect()
    }

    #[test]
    fn picks_the_default_bridge_then_the_first_named_network() {
        for (entries, want) in [
            (vec![("bridge", Some("172.17.0.2")), ("a", Some("10.0.0.2"))], Some("172.17.0.2")),
            (vec![("bridge", Some("")), ("b", Some("10.0.1.2")), ("a", Some("10.0.0.2"))], Some("10.0.0.2")),
            (vec![("a", Some("")), ("b", Some("10.0.1.2"))], Some("10.0.1.2")),
            (vec![("none", Some(""))], None),
            (vec![("x", None)], None),
            (vec![], None),
        ] {
            assert_eq!(pick_ip(&nets(&entries)).as_deref(), want, "{entries:?}");
        }
    }
}
