//! The process's own resources, read from `/proc/self` at each scrape
//! (Linux): the standard `process_*` metrics that dashboards and alerts
//! written for other Prometheus clients expect. prometheus-client has no
//! process collector, so this is a small one. Elsewhere (not Linux) it
//! exports nothing.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// Clock ticks a second in `/proc/self/stat` (`USER_HZ`): 100 on every
/// architecture Linux exports to user space this way.
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of the process's resources; a field is `None` when it could
/// not be read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub resident_memory_bytes: Option<i64>,
    pub virtual_memory_bytes: Option<i64>,
    pub open_fds: Option<i64>,
    pub max_fds: Option<i64>,
    pub start_time_seconds: Option<f64>,
}

impl ProcessStats {
    /// Reads `/proc/self`.
    pub fn read() -> Self {
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let status = std::fs::read_to_string("/proc/self/status").ok();
        let limits = std::fs::read_to_string("/proc/self/limits").ok();
        let boot = std::fs::read_to_string("/proc/stat").ok();
        let fields = stat.as_deref().and_then(stat_fields);
        let start_ticks = fields.as_ref().and_then(|f| f.start_ticks);
        Self {
            cpu_seconds: fields
                .as_ref()
                .map(|f| f.cpu_ticks as f64 / TICKS_PER_SECOND),
            resident_memory_bytes: status.as_deref().and_then(|s| status_kib(s, "VmRSS:")),
            virtual_memory_bytes: status.as_deref().and_then(|s| status_kib(s, "VmSize:")),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|dir| dir.count() as i64),
            max_fds: limits.as_deref().and_then(max_open_files),
            start_time_seconds: boot
                .as_deref()
                .and_then(boot_time)
                .zip(start_ticks)
                .map(|(boot, ticks)| boot as f64 + ticks as f64 / TICKS_PER_SECOND),
        }
    }
}

struct StatFields {
    /// utime + stime.
    cpu_ticks: u64,
    start_ticks: Option<u64>,
}

/// `/proc/self/stat`: the fields after the command name (which is in
/// parentheses and may hold spaces) are space-separated; utime and stime
/// are the 14th and 15th fields, starttime the 22nd.
fn stat_fields(stat: &str) -> Option<StatFields> {
    let after = &stat[stat.rfind(')')? + 1..];
    // `after` starts at field 3 (state).
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some(StatFields {
        cpu_ticks: field(14)? + field(15)?,
        start_ticks: field(22),
    })
}

/// A `Name:   123 kB` line of `/proc/self/status`, in bytes.
fn status_kib(status: &str, name: &str) -> Option<i64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    let kib: i64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// The soft limit of `Max open files` in `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<i64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `btime` of `/proc/stat`: boot time in seconds since the epoch.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// Registered without the `vemt_` prefix: `process_cpu_seconds_total`,
/// `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
/// `process_open_fds`, `process_max_fds`, `process_start_time_seconds`.
#[derive(Debug, Default)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if !cfg!(target_os = "linux") {
            return Ok(());
        }
        let stats = ProcessStats::read();
        if let Some(seconds) = stats.cpu_seconds {
            let counter = ConstCounter::new(seconds);
            counter.encode(encoder.encode_descriptor(
                "process_cpu",
                "Total user and system CPU time spent",
                Some(&Unit::Seconds),
                counter.metric_type(),
            )?)?;
        }
        let gauges: [(&str, &str, Option<Unit>, Option<i64>); 4] = [
            (
                "process_resident_memory",
                "Resident memory size",
                Some(Unit::Bytes),
                stats.resident_memory_bytes,
            ),
            (
                "process_virtual_memory",
                "Virtual memory size",
                Some(Unit::Bytes),
                stats.virtual_memory_bytes,
            ),
            (
                "process_open_fds",
                "Open file descriptors (sockets included)",
                None,
                stats.open_fds,
            ),
            (
                "process_max_fds",
                "The limit of open file descriptors",
                None,
                stats.max_fds,
            ),
        ];
        for (name, help, unit, value) in gauges {
            if let Some(value) = value {
                let gauge = ConstGauge::new(value);
                gauge.encode(encoder.encode_descriptor(
                    name,
                    help,
                    unit.as_ref(),
                    gauge.metric_type(),
                )?)?;
            }
        }
        if let Some(start) = stats.start_time_seconds {
            let gauge = ConstGauge::new(start);
            gauge.encode(encoder.encode_descriptor(
                "process_start_time",
                "Start time of the process since the Unix epoch",
                Some(&Unit::Seconds),
                gauge.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_parsed() {
        let stat = "4242 (vemt (x) y) S 1 4242 4242 0 -1 4194560 2520 0 0 0 \
                    150 50 0 0 20 0 9 0 123456 1000000 2000 18446744073709551615";
        let f = stat_fields(stat).unwrap();
        assert_eq!(f.cpu_ticks, 200);
        assert_eq!(f.start_ticks, Some(123456));
        assert_eq!(
            status_kib(
                "Name:\tvemt\nVmSize:\t  2048 kB\nVmRSS:\t    100 kB\n",
                "VmRSS:"
            ),
            Some(102_400)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(
            boot_time("cpu 1 2 3\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_read() {
        let s = ProcessStats::read();
        assert!(s.cpu_seconds.is_some());
        assert!(s.resident_memory_bytes.unwrap() > 0);
        assert!(s.open_fds.unwrap() > 0);
        assert!(s.max_fds.unwrap() > 0);
        let start = s.start_time_seconds.unwrap();
        assert!(start > 1.6e9, "{start}");
    }
}
