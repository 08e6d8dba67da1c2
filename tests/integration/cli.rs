//! The `vemt` command's exit codes and its log hygiene (issue 12): each
//! kind of failure has its own code, as `vemt --help` lists them; logs
//! written to a file carry no colour codes and no PostgreSQL notices.

use std::process::{Command, Output};

use crate::helpers::IsolatedNames;

fn vemt(args: &[&str], env: &[(String, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vemt"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("APP_ENV")
        .env_remove("RUST_LOG")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn exit_codes_tell_usage_configuration_refused_input_and_unreachable_servers_apart() {
    let help = vemt(&["--help"], &[]);
    let text = String::from_utf8_lossy(&help.stdout);
    for code in [
        "0  success",
        "2  usage",
        "3  configuration",
        "4  input",
        "5  PostgreSQL",
    ] {
        assert!(text.contains(code), "--help lists {code}: {text}");
    }

    let usage = vemt(&["bogus"], &[]);
    assert_eq!(usage.status.code(), Some(vemt::exit::USAGE as i32));

    // A typo in APP_ENV is not run on local defaults.
    let typo = vemt(&["--app-env", "prod", "migrate"], &[]);
    assert_eq!(typo.status.code(), Some(vemt::exit::CONFIGURATION as i32));
    assert!(
        stderr(&typo).contains("looked for config/prod.toml"),
        "{}",
        stderr(&typo)
    );

    // A line simulate refuses: everything else is printed, and the code says so.
    let dir = std::env::temp_dir().join(format!("vemt-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let events = std::fs::read_to_string("examples/simulate.jsonl").unwrap();
    let file = dir.join("events.jsonl");
    std::fs::write(&file, format!("{events}{{\"not\": \"an event\"}}\n")).unwrap();
    let refused = vemt(&["simulate", file.to_str().unwrap()], &[]);
    assert_eq!(refused.status.code(), Some(vemt::exit::REFUSED as i32));
    assert!(String::from_utf8_lossy(&refused.stdout).contains("refused line"));
    // The shipped example refuses its line 25 on purpose; its first ten
    // lines are all taken.
    let head: String = events.lines().take(10).map(|l| format!("{l}\n")).collect();
    std::fs::write(&file, head).unwrap();
    let clean = vemt(&["simulate", file.to_str().unwrap()], &[]);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    assert!(String::from_utf8_lossy(&clean.stdout).contains(" 0 refused"));

    // Nothing listens on port 1.
    let env = [(
        "VEMT__DATABASE__URL".to_owned(),
        "postgres://vemt:secret-pw@127.0.0.1:1/vemt".to_owned(),
    )];
    let down = vemt(&["migrate"], &env);
    assert_eq!(down.status.code(), Some(vemt::exit::UNREACHABLE as i32));
    let err = stderr(&down);
    assert!(
        err.contains("cannot connect to PostgreSQL at 127.0.0.1:1/"),
        "{err}"
    );
    assert!(err.contains("check that PostgreSQL is running"), "{err}");
    assert!(!err.contains("secret-pw"), "{err}");
    let env = [(
        "VEMT__BROKER__URL".to_owned(),
        "amqp://guest:secret-pw@127.0.0.1:1/%2f".to_owned(),
    )];
    let down = vemt(&["publish", "examples/inbound.jsonl"], &env);
    assert_eq!(down.status.code(), Some(vemt::exit::UNREACHABLE as i32));
    let err = stderr(&down);
    assert!(
        err.contains("cannot connect to RabbitMQ at amqp://127.0.0.1:1"),
        "{err}"
    );
    assert!(!err.contains("secret-pw"), "{err}");
}

/// Run twice, `migrate` logs only what it did: no "relation
/// _sqlx_migrations already exists" notice, no escape codes in a file.
#[test]
fn logs_to_a_file_are_plain_and_quiet() {
    let names = IsolatedNames::new();
    for _ in 0..2 {
        let out = vemt(&["migrate"], &names.env());
        assert!(out.status.success(), "{}", stderr(&out));
        let log = stderr(&out);
        assert!(
            !log.contains('\u{1b}'),
            "no colour codes when not a terminal: {log:?}"
        );
        assert!(!log.contains("_sqlx_migrations"), "{log}");
        assert!(
            log.lines()
                .all(|l| l.contains("INFO vemt: migrations applied")
                    || l.contains("INFO vemt::store: created database")),
            "{log}"
        );
        assert!(log.contains("INFO vemt: migrations applied"), "{log}");
    }
}
