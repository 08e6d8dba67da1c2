//! Plain words for a refused TLS handshake. Both clients (lapin for the
//! broker, sqlx for PostgreSQL) use rustls on aws-lc-rs, the process's one
//! crypto provider; each wraps rustls's error in its own, so the failure is
//! recognised from rustls's text and named, for the operator reading the log.

/// What a connection error says about the server's certificate, if it is a
/// certificate failure: `server` names the server ("the broker"), `ca_setting`
/// the setting holding the trusted CA.
pub fn explain(error: &str, server: &str, ca_setting: &str) -> Option<String> {
    let reason = if error.contains("UnknownIssuer") || error.contains("unknown issuer") {
        format!(
            "certificate verify failed: unknown issuer: {server}'s certificate is not signed \
             by a trusted CA (check {ca_setting})"
        )
    } else if error.contains("not valid for name") || error.contains("NotValidForName") {
        format!(
            "host name mismatch: {server}'s certificate is not valid for the host name \
             connected to (the host in the URL must be one the certificate names)"
        )
    } else if error.contains("certificate expired") || error.contains("Expired") {
        format!("certificate verify failed: {server}'s certificate has expired")
    } else if error.contains("not valid yet") || error.contains("NotValidYet") {
        format!("certificate verify failed: {server}'s certificate is not valid yet")
    } else if error.contains("invalid peer certificate") {
        format!("certificate verify failed: {server}'s certificate was refused")
    } else {
        return None;
    };
    Some(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_was_wrong_with_the_certificate() {
        let unknown = explain(
            "IO error: invalid peer certificate: UnknownIssuer",
            "the broker",
            "broker.tls_ca_file",
        )
        .unwrap();
        assert!(unknown.starts_with("certificate verify failed: unknown issuer"));
        assert!(unknown.contains("broker.tls_ca_file"));
        let name = explain(
            "invalid peer certificate: certificate not valid for name \"127.0.0.1\"; \
             certificate is only valid for DnsName(\"localhost\")",
            "PostgreSQL",
            "sslrootcert",
        )
        .unwrap();
        assert!(name.starts_with("host name mismatch"), "{name}");
        assert_eq!(explain("connection refused", "the broker", "x"), None);
    }
}
