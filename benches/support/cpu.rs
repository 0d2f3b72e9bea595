//! The CPU time storelink's own threads use, for the benchmarks that start the app in their
//! process: on a shared machine answers per second drift with the neighbours, CPU time per answer
//! far less.
//!
//! Shared by the benches through `#[path]`; not a bench target of its own (no `main.rs`).

use std::time::Duration;

/// The CPU time (user and system) the process's threads named `server*` (storelink's runtime)
/// and `sqlx-sqlite*` (its SQLite connections' workers) have used so far, from
/// `/proc/self/task/*/stat`; `None` where there is no such file. A thread that ended is not
/// counted, so the connections' threads, which live as long as the app, are read alike each time.
pub fn storelink_cpu() -> Option<Duration> {
    // Linux counts in clock ticks of 1/100 s (USER_HZ) on every architecture it supports.
    const TICKS_PER_SECOND: u64 = 100;
    let mut ticks = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let Ok(stat) = std::fs::read_to_string(task.ok()?.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ...`: the name may hold spaces, so split at the last `)`.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = &stat[open + 1..close];
        if !(name.starts_with("server") || name.starts_with("sqlx-sqlite")) {
            continue;
        }
        // After the name: state (field 3) ... utime (14) and stime (15).
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        ticks += field(14)? + field(15)?;
    }
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}
