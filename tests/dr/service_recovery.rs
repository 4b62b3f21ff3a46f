//! `service-recovery`: three local HTTP services started in dependency order, each healthy
//! before the next starts, then a smoke test through the last one.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use serde_json::Value;

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

/// The position in the journal of the first event matching `event` and `step`.
fn position(journal: &[Value], event: &str, step: &str) -> usize {
    journal
        .iter()
        .position(|e| e["event"] == event && e["step"] == step)
        .unwrap_or_else(|| panic!("no {event} for {step}"))
}

#[test]
fn services_start_in_dependency_order_and_the_smoke_test_passes() {
    tools::require_all(&["python3"]);
    let s = Scenario::new();
    let ports = free_ports(3);
    let [db, api, web] = [ports[0], ports[1], ports[2]];
    let out = s.path("runs/1-service-recovery");
    let services = StopOnDrop::new(&out.join("services"));
    let run = s
        .run(
            "service-recovery",
            &vars(&[
                ("db_port", &db.to_string()),
                ("api_port", &api.to_string()),
                ("web_port", &web.to_string()),
            ]),
        )
        .expect_code(0);
    assert_eq!(run.folder(), out);

    // Each tier starts only after the one it needs passed its health check.
    let journal = run.journal();
    let order = [
        position(&journal, "step_started", "start-db"),
        position(&journal, "check_finished", "wait-db"),
        position(&journal, "step_started", "start-api"),
        position(&journal, "check_finished", "wait-api"),
        position(&journal, "step_started", "start-web"),
        position(&journal, "check_finished", "wait-web"),
        position(&journal, "step_started", "smoke-test"),
    ];
    assert!(order.is_sorted(), "journal positions {order:?}");
    let times: Vec<&str> = order
        .iter()
        .map(|&i| journal[i]["ts"].as_str().expect("ts"))
        .collect();
    assert!(times.is_sorted(), "{times:?}");
    for wait in ["wait-db", "wait-api", "wait-web"] {
        let check = &journal[position(&journal, "check_finished", wait)];
        assert_eq!(check["passed"], true, "{check}");
    }

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
