//! What the machine is and what processes cost (I/O: /proc, Linux only; elsewhere the readings
//! are zero and the machine description says so).

use serde::Serialize;

/// CPU time (user + system) of process `pid` ("self" for this one), seconds.
pub fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) in parentheses.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    // sysconf(_SC_CLK_TCK) is 100 on every Linux this runs on.
    100.0
}

/// The first number of field `key` (`VmRSS:`, `Threads:`) in `/proc/<pid>/status`.
fn status_field(pid: &str, key: &str) -> Option<f64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// OS threads of process `pid` (0 when unknown).
pub fn threads(pid: &str) -> u64 {
    status_field(pid, "Threads:").map_or(0, |n| n as u64)
}

/// Resident memory of process `pid`, MiB.
pub fn rss_mib(pid: &str) -> f64 {
    status_field(pid, "VmRSS:").map_or(0.0, |kb| kb / 1024.0)
}

/// Open file descriptors of process `pid`: entries of `/proc/<pid>/fd` (0 when unknown).
pub fn open_files(pid: &str) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

/// The machine the numbers were measured on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub os: String,
    pub kernel: String,
    pub load_average_at_start: String,
    pub onnxruntime: String,
    pub gstreamer: String,
    pub sharpeyes: String,
}

impl Machine {
    pub fn describe() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let memory_gib = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
        let os = read("/etc/os-release")
            .lines()
            .find(|l| l.starts_with("PRETTY_NAME="))
            .map(|l| {
                l.trim_start_matches("PRETTY_NAME=")
                    .trim_matches('"')
                    .to_owned()
            })
            .unwrap_or_else(|| std::env::consts::OS.into());
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: (memory_gib * 10.0).round() / 10.0,
            os,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            load_average_at_start: read("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
            onnxruntime: sharpeyes_inference::runtime::loaded_library()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "not loaded".into()),
            gstreamer: sharpeyes_ingest::decode::gstreamer_version(),
            sharpeyes: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// Markdown bullet list.
    pub fn markdown(&self) -> String {
        format!(
            "- CPU: {} ({} cores), {} GiB memory\n- OS: {}, kernel {}\n- load average at start: {}\n- ONNX Runtime: {}\n- {}\n",
            self.cpu,
            self.cores,
            self.memory_gib,
            self.os,
            self.kernel,
            self.load_average_at_start,
            self.onnxruntime,
            self.gstreamer,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_uses_cpu_and_memory() {
        let t0 = cpu_seconds("self");
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(100) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        std::hint::black_box(x);
        assert!(cpu_seconds("self") > t0, "busy loop shows as CPU time");
        assert!(rss_mib("self") > 1.0);
        assert_eq!(cpu_seconds("no-such-pid"), 0.0);
    }

    #[test]
    fn open_files_counts_a_new_file() {
        let before = open_files("self");
        assert!(
            before >= 3,
            "stdin, stdout and stderr at least, got {before}"
        );
        // 64 at once, so files other tests close meanwhile cannot hide them.
        let files: Vec<_> = (0..64)
            .map(|_| std::fs::File::open("/proc/self/status").expect("procfs is mounted"))
            .collect();
        assert!(open_files("self") > before, "the open files show");
        drop(files);
        assert_eq!(open_files("no-such-pid"), 0);
    }
}
