//! The exit codes of the `vemt` command, and the error of a server that
//! could not be reached. `vemt --help` and docs/operations.md list the
//! codes; scripts may rely on them.

/// Everything went as asked.
pub const SUCCESS: u8 = 0;
/// Any failure not listed below (a bug, a file that cannot be read or
/// written, a server that answered with an error).
pub const FAILURE: u8 = 1;
/// The command line was wrong (clap's own code).
pub const USAGE: u8 = 2;
/// The settings were refused: an unknown APP_ENV, a secret in a file, a
/// bad or unknown setting.
pub const CONFIGURATION: u8 = 3;
/// The input was partly refused: `import` rejected rows, `simulate`
/// refused lines. The rest was done.
pub const REFUSED: u8 = 4;
/// PostgreSQL or RabbitMQ could not be reached (or refused the connection).
pub const UNREACHABLE: u8 = 5;

/// The table `vemt --help` prints.
pub const HELP: &str = "Exit codes:
  0  success
  1  failure (anything not below)
  2  usage: the command line was wrong
  3  configuration refused (unknown APP_ENV, a secret in a file, a bad setting)
  4  input partly refused (import rejected rows, simulate refused lines)
  5  PostgreSQL or RabbitMQ unreachable";

/// A server that could not be reached: which one, where (never the
/// password), why, and what to check.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to {server} at {endpoint}: {reason}; check {check}")]
pub struct Unreachable {
    /// `PostgreSQL` or `RabbitMQ`.
    pub server: &'static str,
    /// Host, port and database or scheme: no user or password.
    pub endpoint: String,
    pub reason: String,
    pub check: String,
}

/// The exit code for an error: the first in its chain that has one.
pub fn code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<crate::config::SettingsError>() {
            return CONFIGURATION;
        }
        if cause.is::<Unreachable>() {
            return UNREACHABLE;
        }
    }
    FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn errors_map_to_their_codes_through_context() {
        let unreachable = anyhow::Error::from(Unreachable {
            server: "PostgreSQL",
            endpoint: "db:5432/vemt".into(),
            reason: "connection refused".into(),
            check: "that PostgreSQL runs".into(),
        })
        .context("applying migrations");
        assert_eq!(code(&unreachable), UNREACHABLE);
        let settings: anyhow::Result<()> = Err(crate::config::SettingsError::Invalid {
            key: "retention.days",
            rule: "must be more".into(),
        })
        .context("loading settings");
        assert_eq!(code(&settings.unwrap_err()), CONFIGURATION);
        assert_eq!(code(&anyhow::anyhow!("other")), FAILURE);
        for n in [SUCCESS, FAILURE, USAGE, CONFIGURATION, REFUSED, UNREACHABLE] {
            assert!(HELP.contains(&format!("  {n}  ")), "{n} in the help");
        }
    }

    /// The README's table and `--help` give the same codes, and the
    /// README still opens with the two commands.
    #[test]
    fn the_readme_lists_the_same_exit_codes_and_opens_with_the_two_commands() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let table = &readme[readme.find("## Exit codes").expect("an Exit codes section")..];
        for line in HELP.lines().skip(1) {
            let (code, _) = line.trim().split_once("  ").unwrap();
            assert!(
                table.contains(&format!("\n| {code} | ")),
                "README lacks code {code}"
            );
        }
        let first_block = &readme[readme.find("```sh\n").unwrap() + 6..];
        let mut commands = first_block.lines().map(|l| l.split_whitespace().next());
        assert_eq!(commands.next(), Some(Some("scripts/run.sh")));
        assert_eq!(commands.next(), Some(Some("scripts/test.sh")));
    }
}
