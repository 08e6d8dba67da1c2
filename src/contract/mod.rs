//! The message contract (docs/asyncapi.yaml): the CloudEvents envelope, the inbound
//! payloads parsed into domain types, the outbound events, and the JSON
//! Schemas of both (`docs/schemas/`, referenced by `docs/asyncapi.yaml`).

pub mod inbound;
pub mod outbound;
pub mod schema;

#[cfg(test)]
mod asyncapi;
