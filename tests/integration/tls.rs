//! TLS to both servers (issue 10): `amqps://` and `sslmode=verify-full`
//! against a CA each test makes (rcgen), through TLS-terminating proxies in
//! the test process in front of the real RabbitMQ and PostgreSQL. A wrong CA
//! or host name is refused, and the error says which.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Duration;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use sqlx::postgres::PgConnectOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types};
use uuid::Uuid;

use vemt::config::DatabaseSettings;

use crate::helpers::{EpisodeSpec, TestApp, amqp_url, database_server, isolated_settings, utc};

const REQUESTS: &str = "police.trigger-plan-request.v1";

/// A certificate authority made for one test, with its certificate in a PEM
/// file (removed when the CA is dropped).
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pem_file: PathBuf,
}

impl TestCa {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let pem_file = std::env::temp_dir().join(format!("vemt-test-ca-{}.pem", Uuid::new_v4()));
        std::fs::write(&pem_file, issuer.pem()).expect("CA file written");
        Self { issuer, pem_file }
    }

    /// A server certificate for `name` (a DNS name), with its key.
    fn server_certificate(
        &self,
        name: &str,
    ) -> (
        Vec<pki_types::CertificateDer<'static>>,
        pki_types::PrivateKeyDer<'static>,
    ) {
        let mut params = CertificateParams::new(vec![name.to_owned()]).expect("server params");
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &self.issuer).expect("server cert");
        let key = pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
        (vec![cert.der().clone()], key.into())
    }

    fn path(&self) -> String {
        self.pem_file.display().to_string()
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.pem_file);
    }
}

#[derive(Clone, Copy)]
enum Protocol {
    Amqp,
    /// PostgreSQL's SSLRequest comes first, in clear: answered `S`, then the
    /// TLS handshake, then the startup message flows to the server as usual.
    Postgres,
}

/// Listens on 127.0.0.1 (any free port), ends TLS with a certificate the
/// test CA signed, and forwards the plaintext to the real server. Stops (with
/// every connection through it) when dropped.
struct TlsProxy {
    port: u16,
    handshakes: Arc<AtomicUsize>,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsProxy {
    async fn start(ca: &TestCa, name: &str, upstream: (String, u16), protocol: Protocol) -> Self {
        let (chain, key) = ca.server_certificate(name);
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server TLS config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let port = listener.local_addr().expect("proxy address").port();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let counted = handshakes.clone();
        let accepting = tokio::spawn(async move {
            // Dropped with this task: every relayed connection ends with it.
            let mut connections = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                while connections.try_join_next().is_some() {}
                let (acceptor, upstream, counted) =
                    (acceptor.clone(), upstream.clone(), counted.clone());
                connections.spawn(async move {
                    let _ = relay(client, acceptor, upstream, protocol, counted).await;
                });
            }
        });
        Self {
            port,
            handshakes,
            accepting,
        }
    }

    fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn relay(
    mut client: TcpStream,
    acceptor: TlsAcceptor,
    upstream: (String, u16),
    protocol: Protocol,
    handshakes: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    if let Protocol::Postgres = protocol {
        // Length 8, code 80877103.
        const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
        let mut request = [0; 8];
        client.read_exact(&mut request).await?;
        if request != SSL_REQUEST {
            return Err(std::io::Error::other("the client did not ask for TLS"));
        }
        client.write_all(b"S").await?;
    }
    let mut tls = acceptor.accept(client).await?;
    handshakes.fetch_add(1, Ordering::SeqCst);
    let mut server = TcpStream::connect(upstream).await?;
    tokio::io::copy_bidirectional(&mut tls, &mut server).await?;
    Ok(())
}

fn rabbitmq() -> (String, u16) {
    let uri = lapin::uri::AMQPUri::from_str(&amqp_url()).expect("test AMQP URL");
    (uri.authority.host, uri.authority.port)
}

fn postgres() -> (String, u16) {
    let options = PgConnectOptions::from_str(&database_server()).expect("test database URL");
    (options.get_host().to_owned(), options.get_port())
}

/// `database.url` of these settings, through the proxy at `host:port` with
/// `sslmode=verify-full` and `ca` as the root.
fn verify_full_url(database: &str, host: &str, port: u16, ca: &TestCa) -> String {
    format!(
        "postgres://postgres:postgres@{host}:{port}/{database}?sslmode=verify-full&sslrootcert={}",
        ca.path()
    )
}

/// A high-risk episode is queued and asks the police for a trigger plan:
/// in through the consumer, into the database, out through the relay.
async fn one_episode_end_to_end(app: &TestApp) {
    let now = utc(MONDAY);
    let episode = EpisodeSpec {
        risk_level: "high",
        ..EpisodeSpec::returned("CP-TLS", "P-TLS", Some("LCS-TLS"), now - Duration::days(2))
    };
    app.publish(&episode.event()).await;
    app.wait_handled(1).await;
    assert_eq!(app.criteria("2026-11-18", "LCS-TLS").await, ["high_risk"]);
    let requests = app.take_events(REQUESTS, 1).await;
    assert_eq!(requests[0]["data"]["lcs_person_id"], "LCS-TLS");
    app.assert_no_more(REQUESTS).await;
}

/// Monday 16 November 2026, 09:00 London: the next meeting is Wednesday 18th.
const MONDAY: &str = "2026-11-16T09:00:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_works_over_amqps_with_the_ca_file() {
    let ca = TestCa::new("vemt test broker CA");
    let proxy = TlsProxy::start(&ca, "localhost", rabbitmq(), Protocol::Amqp).await;
    let port = proxy.port;
    let app = TestApp::spawn_with(utc(MONDAY), |s| {
        s.broker.url = format!("amqps://guest:guest@localhost:{port}/%2f");
        s.broker.tls_ca_file = Some(ca.pem_file.clone());
    })
    .await;
    // The service's connection and the test's own both went through TLS.
    assert!(proxy.handshakes() >= 2, "{} handshakes", proxy.handshakes());
    one_episode_end_to_end(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_works_over_postgres_verify_full_with_the_root_certificate() {
    let ca = TestCa::new("vemt test database CA");
    let proxy = TlsProxy::start(&ca, "localhost", postgres(), Protocol::Postgres).await;
    let port = proxy.port;
    let app = TestApp::spawn_with(utc(MONDAY), |s| {
        let database = s
            .database
            .url
            .rsplit_once('/')
            .map(|(_, name)| name.to_owned())
            .expect("a database name");
        s.database.url = verify_full_url(&database, "localhost", port, &ca);
    })
    .await;
    // Creating the database, migrating and the pool all went through TLS.
    assert!(proxy.handshakes() >= 2, "{} handshakes", proxy.handshakes());
    one_episode_end_to_end(&app).await;
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM agenda_items")
        .fetch_one(&app.pool)
        .await
        .expect("the app's pool works");
    assert_eq!(queued, 1);
    app.stop().await;
}

/// The broker settings of an isolated app, pointed at `url` with `ca`.
fn broker_settings(url: String, ca: &TestCa) -> vemt::config::BrokerSettings {
    let (settings, _) = isolated_settings();
    let mut broker = settings.broker;
    broker.url = url;
    broker.tls_ca_file = Some(ca.pem_file.clone());
    broker
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_is_refused_for_a_wrong_ca_or_host_name_saying_which() {
    let ca = TestCa::new("vemt test broker CA");
    let other_ca = TestCa::new("some other CA");
    let proxy = TlsProxy::start(&ca, "localhost", rabbitmq(), Protocol::Amqp).await;
    let port = proxy.port;
    let other_name = TlsProxy::start(&ca, "rabbit.example", rabbitmq(), Protocol::Amqp).await;

    // The right CA and name connect: the refusals below are for what they say.
    let settings = broker_settings(format!("amqps://guest:guest@localhost:{port}/%2f"), &ca);
    let connection = vemt::broker::connect(&settings)
        .await
        .expect("amqps connects");
    vemt::broker::close(&connection).await;

    let cases = [
        (
            broker_settings(
                format!("amqps://guest:guest@localhost:{port}/%2f"),
                &other_ca,
            ),
            "certificate verify failed: unknown issuer",
            format!("amqps://localhost:{port}"),
        ),
        (
            broker_settings(format!("amqps://guest:guest@127.0.0.1:{port}/%2f"), &ca),
            "host name mismatch",
            format!("amqps://127.0.0.1:{port}"),
        ),
        (
            broker_settings(
                format!("amqps://guest:guest@localhost:{}/%2f", other_name.port),
                &ca,
            ),
            "host name mismatch",
            format!("amqps://localhost:{}", other_name.port),
        ),
    ];
    for (settings, reason, server) in cases {
        let err = vemt::broker::connect(&settings)
            .await
            .expect_err("the connection is refused")
            .to_string();
        eprintln!("refused: {err}");
        assert!(
            err.starts_with(&format!("cannot connect to RabbitMQ at {server}: {reason}")),
            "{err}"
        );
        assert!(
            !err.contains("guest:guest"),
            "the password is printed: {err}"
        );
    }
}

fn database_settings(url: String) -> DatabaseSettings {
    DatabaseSettings {
        url,
        max_connections: 1,
        create_if_missing: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_is_refused_for_a_wrong_ca_or_host_name_saying_which() {
    let ca = TestCa::new("vemt test database CA");
    let other_ca = TestCa::new("some other CA");
    let proxy = TlsProxy::start(&ca, "localhost", postgres(), Protocol::Postgres).await;
    let port = proxy.port;
    let other_name = TlsProxy::start(&ca, "db.example", postgres(), Protocol::Postgres).await;

    // The right CA and name connect: the refusals below are for what they say.
    let pool = vemt::store::connect(&database_settings(verify_full_url(
        "postgres",
        "localhost",
        port,
        &ca,
    )))
    .await
    .expect("verify-full connects");
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(one, 1);
    pool.close().await;

    let cases = [
        (
            verify_full_url("postgres", "localhost", port, &other_ca),
            "certificate verify failed: unknown issuer",
            format!("localhost:{port}/postgres"),
        ),
        (
            verify_full_url("postgres", "127.0.0.1", port, &ca),
            "host name mismatch",
            format!("127.0.0.1:{port}/postgres"),
        ),
        (
            verify_full_url("postgres", "localhost", other_name.port, &ca),
            "host name mismatch",
            format!("localhost:{}/postgres", other_name.port),
        ),
    ];
    for (url, reason, server) in cases {
        let err = vemt::store::connect(&database_settings(url))
            .await
            .expect_err("the connection is refused")
            .to_string();
        eprintln!("refused: {err}");
        assert!(
            err.starts_with(&format!("cannot connect to PostgreSQL at {server}")),
            "{err}"
        );
        assert!(err.contains(&format!(": {reason}")), "{err}");
        assert!(
            !err.contains("postgres:postgres"),
            "the password is printed: {err}"
        );
    }
}
