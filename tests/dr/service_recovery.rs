//! `service-recovery`: three local HTTP services started in dependency order, each healthy
//! before the next starts, then a smoke test through the last one.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use super::scenario::{Scenario, vars};
use super::services::{StopOnDrop, free_ports};
use super::tools;

/// `GET path` on 127.0.0.1:port; the whole response.
fn get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("the service answers");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

/// The line numbers in `log` of each of `needles`, in order.
fn lines_of(log: &str, needles: &[&str]) -> Vec<usize> {
    needles
        .iter()
        .map(|n| {
            log.lines()
                .position(|l| l.contains(n))
                .unwrap_or_else(|| panic!("no line with `{n}` in:\n{log}"))
        })
        .collect()
}

fn tier(name: &str, start: &str, port: u16, optional: bool) -> String {
    format!(
        r#"{{ name = "{name}", start = "{start}", health = "http://127.0.0.1:{port}/health", optional = {optional} }}"#
    )
}

#[test]
fn tiers_start_in_dependency_order_an_optional_one_may_fail_and_the_smoke_test_passes() {
    tools::require_all(&["python3", "curl"]);
    let s = Scenario::new();
    let ports = free_ports(4);
    let [db, api, cache, web] = [ports[0], ports[1], ports[2], ports[3]];
    let out = s.path("runs/1-service-recovery");
    let services = StopOnDrop::new(&out.join("services"));
    let tiers = format!(
        "[{}, {}, {}, {}]",
        tier("db", "", db, false),
        tier("api", "", api, false),
        tier("cache", "exit 3", cache, true),
        tier("web", "", web, false)
    );
    let run = s
        .run(
            "service-recovery",
            &vars(&[
                ("tiers", &tiers),
                ("smoke_url", &format!("http://127.0.0.1:{web}/")),
            ]),
        )
        .expect_code(0);
    assert_eq!(run.folder(), out);

    // Each tier starts only after the one before it answered its health URL; the optional
    // tier failed and the web tier still started.
    let log = run.log("start-tiers");
    let order = lines_of(
        &log,
        &[
            "== tier db",
            "tier db: healthy after",
            "== tier api",
            "tier api: healthy after",
            "== tier cache",
            "tier cache: start command exited 3",
            "tier cache: FAILED, optional: the tiers after it go on",
            "== tier web",
            "tier web: healthy after",
        ],
    );
    assert!(order.is_sorted(), "{order:?}\n{log}");
    assert_eq!(run.output("start-tiers", "degraded"), "cache");
    let total: u64 = run
        .output("start-tiers", "total_ms")
        .parse()
        .expect("a number of milliseconds");
    assert!(
        run.report().contains(&format!("`{total}`")),
        "{}",
        run.report()
    );

    // The three services are still running, detached, on their ports; the pids are recorded.
    let pids = services.pids();
    let names: Vec<&str> = pids.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["api", "db", "web"]);
    for (port, tier) in [(db, "db"), (api, "api"), (web, "web")] {
        let health = get(port, "/health");
        assert!(
            health.starts_with("HTTP/1.0 200") && health.ends_with(&format!("{tier} ok\n")),
            "{health}"
        );
    }
    assert!(get(web, "/").contains("storefront"));

    assert_eq!(run.status("smoke-test"), "ok");
    // The steady-state check failed before (the outage) and passed after (the recovery).
    let front: Vec<(String, bool)> = run
        .events("check_finished")
        .iter()
        .filter(|e| e["check"] == "front-door")
        .map(|e| {
            (
                e["phase"].as_str().expect("phase").to_owned(),
                e["passed"] == true,
            )
        })
        .collect();
    assert_eq!(front.len(), 2, "{front:?}");
    assert!(!front[0].1 && front[1].1, "{front:?}");
    let rto = run.objective_row("RTO");
    assert!(
        rto.starts_with("| RTO | 15m |") && rto.ends_with("| met |"),
        "{rto}"
    );
}

#[test]
fn a_required_tier_that_fails_stops_the_tiers_after_it() {
    tools::require_all(&["python3", "curl"]);
    let s = Scenario::new();
    let ports = free_ports(2);
    let out = s.path("runs/1-service-recovery");
    let services = StopOnDrop::new(&out.join("services"));
    let tiers = format!(
        "[{}, {}]",
        tier("db", "exit 4", ports[0], false),
        tier("api", "", ports[1], false)
    );
    let run = s
        .run(
            "service-recovery",
            &vars(&[
                ("tiers", &tiers),
                ("smoke_url", &format!("http://127.0.0.1:{}/", ports[1])),
            ]),
        )
        .expect_code(1);

    let log = run.log("start-tiers");
    assert!(
        log.contains("tier db: FAILED (http://127.0.0.1:")
            && log.contains("the tiers after it are not started"),
        "{log}"
    );
    assert!(!log.contains("== tier api"), "{log}");
    assert!(services.pids().is_empty(), "nothing was started");
    assert_eq!(run.status("start-tiers"), "failed");
    assert_eq!(run.status("smoke-test"), "skipped");
    assert_eq!(run.run_finished()["status"], "failed");
}
