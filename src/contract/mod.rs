//! The message contract (CONTRACT.md): the CloudEvents envelope, the inbound
//! payloads parsed into domain types, and the outbound events.

pub mod inbound;
pub mod outbound;
