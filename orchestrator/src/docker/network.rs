//! The network bots run on when the operator names none (`serve` on a plain host).
//!
//! Why it exists: on Docker's default bridge every container reaches every other one, so bot A
//! could call bot B's :9476 query handler. The orchestrator therefore creates one bridge network,
//! `the0-bots`, with inter-container traffic off (`enable_icc=false`): a bot reaches the outside
//! (S3, NATS at the addresses the operator gives) but no other bot; the orchestrator, on the host,
//! still reaches each bot's :9476 by its address. A network the operator names (`DOCKER_NETWORK`)
//! is used as is, with a warning.

use std::collections::HashMap;

use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::InspectNetworkOptions;
use the0_contract::labels;

use super::{status_of, Docker, DockerError, Result, CALL_TIMEOUT};

/// The network the orchestrator creates for bots when `DOCKER_NETWORK` is not set. One per host,
/// shared by every instance (bots on it cannot reach each other anyway), and kept between runs.
pub const BOT_NETWORK: &str = "the0-bots";

/// The bridge driver option that turns inter-container traffic off.
pub const ICC_OPTION: &str = "com.docker.network.bridge.enable_icc";

/// Whether an existing network's driver options turn inter-container traffic off.
pub fn icc_off(options: Option<&HashMap<String, String>>) -> bool {
    options.and_then(|o| o.get(ICC_OPTION)).is_some_and(|v| v.trim().eq_ignore_ascii_case("false"))
}

impl Docker {
    /// Creates [`BOT_NETWORK`] unless it exists; an existing one must have inter-container
    /// traffic off, else it is refused (someone else made a network of that name).
    pub async fn ensure_bot_network(&self) -> Result<()> {
        for _ in 0..2 {
            let f = self.client.inspect_network(BOT_NETWORK, None::<InspectNetworkOptions>);
            match self.call("inspect network", CALL_TIMEOUT, f).await {
                Ok(n) if icc_off(n.options.as_ref()) => return Ok(()),
                Ok(_) => return Err(DockerError::Network(format!(
                    "network {BOT_NETWORK:?} exists without {ICC_OPTION}=false: bots on it could reach each other; remove it (docker network rm {BOT_NETWORK}) or set DOCKER_NETWORK"
                ))),
                Err(DockerError::Api(e)) if status_of(&e) == Some(404) => {}
                Err(e) => return Err(e),
            }
            let req = NetworkCreateRequest {
                name: BOT_NETWORK.to_string(),
                driver: Some("bridge".into()),
                options: Some(HashMap::from([(ICC_OPTION.to_string(), "false".to_string())])),
                labels: Some(HashMap::from([(labels::MANAGED.to_string(), "true".to_string())])),
                ..Default::default()
            };
            match self.call("create network", CALL_TIMEOUT, self.client.create_network(req)).await {
                Ok(_) => {
                    tracing::info!(network = %BOT_NETWORK, icc = %"off", "created the bots' network");
                    return Ok(());
                }
                // Another orchestrator made it meanwhile: inspect it again.
                Err(DockerError::Api(e)) if status_of(&e) == Some(409) => {}
                Err(e) => return Err(e),
            }
        }
        Err(DockerError::Network(format!("network {BOT_NETWORK:?} could not be created or found")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icc_option_table() {
        let o = |v: &str| HashMap::from([(ICC_OPTION.to_string(), v.to_string())]);
        for (opts, off) in [
            (Some(o("false")), true),
            (Some(o("False")), true),
            (Some(o("true")), false),
            (Some(HashMap::new()), false),
            (None, false),
        ] {
            assert_eq!(icc_off(opts.as_ref()), off, "{opts:?}");
        }
    }
}
