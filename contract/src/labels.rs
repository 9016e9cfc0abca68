//! Docker labels on managed containers (docs/contract.md §5.4, D24).

pub const MANAGED: &str = "runtime.managed";
pub const ID: &str = "runtime.id";
pub const TYPE: &str = "runtime.type";
pub const ENTRYPOINT: &str = "runtime.entrypoint";
pub const CONFIG_HASH: &str = "runtime.config-hash";
/// `true` on a scheduled bot's warm query server (issue 15): neither the bot's container nor a run.
pub const WARM: &str = "runtime.warm";

pub const TYPE_REALTIME: &str = "realtime";
pub const TYPE_SCHEDULED: &str = "scheduled";
/// Opt-in: containers of one orchestrator `--instance`.
pub const INSTANCE: &str = "runtime.instance";
/// `true` on an update's successor: a realtime container created in the waiting mode
/// (`THE0_WAIT_FOR_RELEASE`) beside the bot's running one (issue #15). It is the bot's container
/// once released and renamed to the bot's usual name; until then it is named
/// `<the bot's container name>-next`.
pub const SUCCESSOR: &str = "runtime.successor";
