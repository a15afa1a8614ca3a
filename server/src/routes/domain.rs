//! The domain's public key, for anyone who checks its signatures (product manifests, audit
//! checkpoints and kept heads).
//!
//! Public, like `/v1/health`: the key is no secret (every manifest already names its key id), and
//! whoever was handed a product by its operator holds no token, yet must be able to verify it.
//! Fetching the key from the server only proves what the server says; the key id it answers is
//! what a careful holder compares with the one the bureau published through another channel.

use axum::extract::State;
use axum::routing::on;
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::route_table::Route;
use crate::state::AppState;

pub(super) fn routes() -> Vec<Route> {
    vec![Route::get("/v1/domain/public-key", "domainPublicKey", |m| {
        on(m, public_key)
    })
    .doc(
        "system",
        "The domain's Ed25519 public key, which signs product manifests and audit checkpoints",
    )
    .public()
    .returns(200, "DomainPublicKey")]
}

/// The domain's public key, which checks product manifests, audit checkpoints and kept heads:
/// `GET /v1/domain/public-key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DomainPublicKey {
    /// Always `ed25519`.
    #[schemars(extend("enum" = ["ed25519"]))]
    pub algorithm: String,
    /// The key, 64 lowercase hex characters: the content of `keys/domain.pub`.
    #[schemars(regex(pattern = "^[0-9a-f]{64}$"))]
    pub public_key: String,
    /// The key id manifests and messages name: the first 16 hex characters of its SHA-256.
    #[schemars(regex(pattern = "^[0-9a-f]{16}$"))]
    pub key_id: String,
}

async fn public_key(State(state): State<AppState>) -> Json<DomainPublicKey> {
    let key = state.domain().keys.public_key();
    Json(DomainPublicKey {
        algorithm: "ed25519".into(),
        public_key: key.to_hex(),
        key_id: key.key_id(),
    })
}
