//! The query wire envelope and ports (docs/contract.md §4).

use serde::{Deserialize, Serialize};

/// Port the executor's query front (and the original SDK server) listens on.
pub const CONTAINER_PORT: u16 = 9476;
/// Port of the host query API.
pub const HOST_PORT: u16 = 9477;

/// `{"status":"ok"|"error","data":…,"error":"…"}` as SDK query programs answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Envelope {
    pub fn error(message: impl Into<String>) -> Self {
        Envelope { status: "error".into(), data: None, error: Some(message.into()) }
    }

    pub fn ok(data: serde_json::Value) -> Self {
        Envelope { status: "ok".into(), data: Some(data), error: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelope_omits_data() {
        let s = serde_json::to_string(&Envelope::error("boom")).unwrap();
        assert_eq!(s, r#"{"status":"error","error":"boom"}"#);
    }
}
