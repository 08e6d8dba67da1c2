//! deploy/ and compose.yaml checked against the service itself (issue 12):
//! the Kubernetes probes and scrape path answer on a running app, every
//! variable they set is a real setting, every secret comes from a Secret,
//! and every metric the alert rules and the dashboard use is one the
//! service exports.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use yaml_rust2::{Yaml, YamlLoader};

use crate::helpers::{TestApp, utc};
use vemt::config::{SECRET_URLS, SECRETS, Settings, env_var, setting_key};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml_docs(path: &Path) -> Vec<Yaml> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every document of deploy/kubernetes/, by kind.
fn manifests() -> HashMap<String, Yaml> {
    let mut by_kind = HashMap::new();
    let dir = root().join("deploy/kubernetes");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let listed = &yaml_docs(&dir.join("kustomization.yaml"))[0]["resources"];
    for file in files.iter().filter(|f| !f.ends_with("kustomization.yaml")) {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            listed
                .as_vec()
                .unwrap()
                .iter()
                .any(|r| r.as_str() == Some(name)),
            "kustomization.yaml lists {name}"
        );
        for doc in yaml_docs(file) {
            let kind = doc["kind"].as_str().expect("a kind").to_owned();
            assert!(by_kind.insert(kind.clone(), doc).is_none(), "one {kind}");
        }
    }
    by_kind
}

fn str_of<'a>(y: &'a Yaml, what: &str) -> &'a str {
    y.as_str()
        .unwrap_or_else(|| panic!("{what} is a string: {y:?}"))
}

/// The environment a container or compose service sets, secrets standing in
/// with plausible values, checked as the service checks it at start.
fn load_settings(app_env: &str, env: HashMap<String, String>) -> Settings {
    Settings::load_with_env(&root().join("config"), app_env, Some(env))
        .unwrap_or_else(|e| panic!("the settings of the manifest load: {e}"))
}

/// A value that passes the checks of the setting a secret stands for.
fn placeholder(var: &str) -> String {
    match setting_key(var).as_deref() {
        Some("database.url") => "postgres://vemt:pw@db.example:5432/vemt".into(),
        Some("broker.url") => "amqps://vemt:pw@rabbit.example:5671/%2f".into(),
        _ => "a-placeholder-secret-of-some-length".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubernetes_manifests_match_the_service() {
    let m = manifests();
    let deployment = &m["Deployment"];
    let pod = &deployment["spec"]["template"];
    let labels = &pod["metadata"]["labels"];
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(&m["Service"]["spec"]["selector"], labels);
    assert_eq!(
        &m["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        labels
    );
    let replicas = deployment["spec"]["replicas"].as_i64().unwrap();
    let min_available = m["PodDisruptionBudget"]["spec"]["minAvailable"]
        .as_i64()
        .unwrap();
    assert!(
        min_available >= 1 && min_available < replicas,
        "a drain can proceed"
    );

    let containers = pod["spec"]["containers"].as_vec().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];

    // Non-root, as the image's numeric USER, with nothing to escalate to.
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let user = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the Dockerfile sets USER");
    let pod_security = &pod["spec"]["securityContext"];
    assert_eq!(pod_security["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(
        format!(
            "{}:{}",
            pod_security["runAsUser"].as_i64().unwrap(),
            pod_security["runAsGroup"].as_i64().unwrap()
        ),
        user.trim()
    );
    let security = &c["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(security["capabilities"]["drop"][0].as_str(), Some("ALL"));
    for (kind, resource) in [
        ("requests", "cpu"),
        ("requests", "memory"),
        ("limits", "memory"),
    ] {
        assert!(
            c["resources"][kind][resource].as_str().is_some(),
            "resources.{kind}.{resource}"
        );
    }

    // The environment: every VEMT__ variable a real setting, every secret
    // from a Secret and none written out.
    let mut env = HashMap::new();
    let mut from_secrets = BTreeSet::new();
    let mut app_env = vemt::config::DEFAULT_APP_ENV.to_owned();
    for var in c["env"].as_vec().unwrap() {
        let name = str_of(&var["name"], "env name").to_owned();
        if let Some(secret) = var["valueFrom"]["secretKeyRef"].as_hash() {
            assert!(secret.contains_key(&Yaml::String("name".into())), "{name}");
            env.insert(name.clone(), placeholder(&name));
            from_secrets.insert(name);
        } else if name == "APP_ENV" {
            app_env = str_of(&var["value"], "APP_ENV").to_owned();
        } else if name.starts_with("VEMT__") {
            env.insert(name.clone(), str_of(&var["value"], &name).to_owned());
        }
    }
    let secrets: BTreeSet<String> = SECRETS
        .iter()
        .chain(&SECRET_URLS)
        .map(|k| env_var(k))
        .collect();
    assert_eq!(
        from_secrets, secrets,
        "each secret, and only secrets, from the Secret"
    );
    let settings = load_settings(&app_env, env);
    assert!(
        !settings.database.create_if_missing,
        "production creates no database"
    );
    let port = settings.http.bind.port();
    assert!(
        !settings.http.bind.ip().is_loopback(),
        "the kubelet can reach the probes"
    );

    // The probes and the scrape path: the real routes, on the right port.
    let ports = c["ports"].as_vec().unwrap();
    assert_eq!(ports[0]["containerPort"].as_i64(), Some(i64::from(port)));
    let port_name = str_of(&ports[0]["name"], "port name");
    assert_eq!(
        m["Service"]["spec"]["ports"][0]["targetPort"].as_str(),
        Some(port_name)
    );
    let mut paths = Vec::new();
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["port"].as_str(), Some(port_name), "{probe} port");
        paths.push((probe, str_of(&get["path"], probe).to_owned()));
    }
    assert_eq!(paths[1].1, "/livez");
    assert_eq!(
        paths[2].1, "/readyz",
        "readiness is the one that checks the servers"
    );
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(
        annotations["prometheus.io/port"].as_str(),
        Some(port.to_string().as_str())
    );
    paths.push((
        "scrape",
        str_of(&annotations["prometheus.io/path"], "scrape path").to_owned(),
    ));
    let app = TestApp::spawn(utc("2026-11-16T09:00:00Z")).await;
    for (what, path) in paths {
        let response = reqwest::get(format!("{}{path}", app.http_base()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{what} {path}");
    }

    // The image's HEALTHCHECK: `vemt healthcheck` asks /readyz at the port
    // of http.bind.
    let healthcheck = |bind: String| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vemt"))
            .arg("healthcheck")
            .current_dir(root())
            .env_remove("APP_ENV")
            .env("VEMT__HTTP__BIND", bind)
            .output()
            .unwrap()
    };
    let bind = app.http_base().trim_start_matches("http://").to_owned();
    let ready = healthcheck(bind);
    assert!(ready.status.success(), "{ready:?}");
    assert!(String::from_utf8_lossy(&ready.stdout).contains(r#""broker":"up""#));
    app.stop().await;
    let nobody = healthcheck("127.0.0.1:1".into());
    assert_eq!(nobody.status.code(), Some(1), "{nobody:?}");
}

/// The image ships the examples `vemt publish` is shown with, and checks
/// its own health with a command the binary has.
#[test]
fn the_dockerfile_ships_the_examples_and_a_healthcheck() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let copy = dockerfile
        .lines()
        .find(|l| l.starts_with("COPY examples/"))
        .expect("the image copies examples/");
    let parts: Vec<&str> = copy.split_whitespace().skip(1).collect();
    let (destination, sources) = parts.split_last().unwrap();
    assert_eq!(*destination, "/app/examples/");
    for source in sources {
        assert!(root().join(source).is_file(), "{source} exists");
    }
    assert!(sources.contains(&"examples/inbound.jsonl"));
    assert!(dockerfile.contains("WORKDIR /app"));
    assert!(
        dockerfile.contains(r#"CMD ["vemt", "healthcheck"]"#),
        "HEALTHCHECK runs `vemt healthcheck`"
    );
    assert!(
        dockerfile.contains("COPY build.rs"),
        "the revision's build script"
    );
    let compose = std::fs::read_to_string(root().join("compose.yaml")).unwrap();
    assert!(
        compose.contains("vemt publish examples/inbound.jsonl"),
        "compose's instructions use the image's examples"
    );
    assert!(!compose.contains("./examples:"), "no mount needed");
}

/// compose.yaml runs the image as `serve` would be run: the same variable
/// names, each one a setting.
#[test]
fn compose_uses_the_settings_serve_reads() {
    let compose = &yaml_docs(&root().join("compose.yaml"))[0];
    let service = &compose["services"]["vemt"];
    let mut env = HashMap::new();
    let mut app_env = vemt::config::DEFAULT_APP_ENV.to_owned();
    for (name, value) in service["environment"].as_hash().unwrap() {
        let name = str_of(name, "variable").to_owned();
        let value = str_of(value, &name).to_owned();
        if name == "APP_ENV" {
            app_env = value;
        } else if name.starts_with("VEMT__") {
            // `${VAR:?…}`: the caller's value.
            let value = if value.starts_with("${") {
                placeholder(&name)
            } else {
                value
            };
            env.insert(name, value);
        } else {
            assert_eq!(name, "RUST_LOG", "only settings, APP_ENV and RUST_LOG");
        }
    }
    assert!(
        env.contains_key("VEMT__HTTP__TOKEN"),
        "the agenda routes need the token"
    );
    let settings = load_settings(&app_env, env);
    assert!(
        !settings.http.bind.ip().is_loopback(),
        "reachable from the port mapping"
    );
    let published = service["ports"][0].as_str().unwrap();
    assert!(
        published.ends_with(&format!(":{}", settings.http.bind.port())),
        "{published}"
    );
}

/// The metric names in an expression: `vemt_…` and `process_…` words.
fn metric_names(expr: &str) -> BTreeSet<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("vemt_") || w.starts_with("process_"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_alert_rules_and_the_dashboard_use_metrics_the_service_exports() {
    let metrics = vemt::metrics::Metrics::new();
    // The one family with no series before its first use.
    metrics.event_dead_lettered(
        "lcs.child.v1",
        &vemt::contract::inbound::Rejection {
            path: "$".into(),
            rule: "x".into(),
        },
    );
    let exported: BTreeSet<String> = metrics
        .encode()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect();
    let mut used = BTreeSet::new();
    let rules = &yaml_docs(&root().join("deploy/prometheus/vemt-rules.yaml"))[0];
    for group in rules["groups"].as_vec().unwrap() {
        for rule in group["rules"].as_vec().unwrap() {
            used.extend(metric_names(str_of(&rule["expr"], "expr")));
        }
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/vemt-dashboard.json")).unwrap(),
    )
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            used.extend(metric_names(target["expr"].as_str().unwrap()));
        }
    }
    assert!(used.len() > 15, "{used:?}");
    let unknown: Vec<_> = used.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "not exported by the service: {unknown:?}"
    );
}
