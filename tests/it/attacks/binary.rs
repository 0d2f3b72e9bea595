//! The real `storelink` binary, for attacks measured from outside the process (memory, file
//! descriptors).

use std::{path::Path, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader},
    process::{Child, Command},
};

pub const BIN: &str = env!("CARGO_BIN_EXE_storelink");

/// `storelink ARGS` in `dir` with only `vars` set (sandbox mode unless they say otherwise),
/// optionally under `ulimit -n`.
fn command(dir: &Path, vars: &[(&str, &str)], open_files: Option<u32>) -> Command {
    let mut command = match open_files {
        Some(n) => {
            let mut sh = Command::new("sh");
            sh.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(BIN);
            sh
        }
        None => Command::new(BIN),
    };
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir)
        .env("STORELINK_DATABASE_URL", "sqlite://attack.db")
        .kill_on_drop(true);
    for (k, v) in vars {
        command.env(k, v);
    }
    command
}

/// `storelink operator add EMAIL --password-stdin`.
pub async fn add_operator(dir: &Path, email: &str, password: &str) {
    let mut child = command(dir, &[], None)
        .args(["operator", "add", email, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(format!("{password}\n").as_bytes())
        .await
        .unwrap();
    drop(input);
    assert!(child.wait().await.unwrap().success(), "operator add");
}

/// `storelink serve` on a random port; returns it with its port once it listens. Its log is
/// drained in the background.
pub async fn serve(dir: &Path, vars: &[(&str, &str)], open_files: Option<u32>) -> (Child, u16) {
    let mut vars = vars.to_vec();
    vars.push(("STORELINK_BIND", "127.0.0.1:0"));
    vars.push(("RUST_LOG", "storelink=info"));
    let mut child = command(dir, &vars, open_files)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (port_tx, port_rx) = tokio::sync::oneshot::channel();
    let stderr = child.stderr.take().unwrap();
    tokio::spawn(async move {
        let mut port_tx = Some(port_tx);
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("address=127.0.0.1:").nth(1) {
                let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let (Some(tx), Ok(port)) = (port_tx.take(), port.parse::<u16>()) {
                    let _ = tx.send(port);
                }
            }
        }
    });
    let port = tokio::time::timeout(Duration::from_secs(60), port_rx)
        .await
        .expect("the binary starts listening")
        .expect("a port in the log");
    (child, port)
}

/// The peak resident memory (`VmHWM`) of process `pid`, in bytes.
pub fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/PID/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}
