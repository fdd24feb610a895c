//! Smoke runs of every `dchat-bench` scenario: seconds long, correctness counters
//! asserted, no speed asserted (speed is for BENCHMARKS.md, not for tests).

use std::time::Duration;

use dchat_bench::{FanoutOptions, IngestOptions, Progress, SeedOptions, Transport};
use tokio_util::sync::CancellationToken;

use crate::support::{Topology, in_both_topologies, spawn};

fn fanout_options(run_id: &str) -> FanoutOptions {
    FanoutOptions {
        rooms: 2,
        members: 3,
        users_per_room: 2,
        senders: 2,
        rate_per_sec: 200.0,
        duration: Duration::from_millis(1500),
        warmup: Duration::ZERO,
        run_id: run_id.to_owned(),
        server_pid: Some(std::process::id()),
        progress: Progress::default(),
    }
}

async fn the_bench_scenarios_run_and_count_nothing_lost_doubled_or_reordered(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let fanout = fanout_options("smoke");
    let report = dchat_bench::fanout(&app.http, &fanout).await.unwrap();
    assert!(report.is_correct(), "{}", report.table());
    assert!(report.operations > 0 && report.latency.samples == report.operations, "{}", report.table());
    assert_eq!(fanout.progress.read().0, report.operations, "live progress counted every delivery");
    assert!(report.server.is_some(), "the server's CPU and memory are read when its pid is known");

    for (transport, run_id) in [(Transport::WebSocket, "ws"), (Transport::Rest, "rest")] {
        let ingest = IngestOptions {
            connections: 3,
            window: 8,
            duration: Duration::from_millis(800),
            transport,
            run_id: run_id.to_owned(),
            progress: Progress::default(),
        };
        let report = dchat_bench::ingest(&app.http, &ingest).await.unwrap();
        assert!(report.is_correct() && report.operations > 0, "{}", report.table());
        // The report's count is read from the same counter, so hold it to the latencies
        // recorded, one per acknowledged append, which are counted apart.
        assert_eq!(
            ingest.progress.read(),
            (report.latency.samples, 0),
            "live progress counted every acknowledged append"
        );
    }

    let setup = dchat_bench::prepare_idle(&app.http, "smoke", 2).await.unwrap();
    let held = dchat_bench::open_idle(&app.http, &setup, 40, 0, 3, 8, &Progress::default()).await.unwrap();
    assert_eq!(held.opened, 40, "every idle connection opened and subscribed");

    let seed = SeedOptions {
        users: 4,
        paced: false,
        duration: Duration::from_millis(800),
        run_id: "smoke".to_owned(),
        server_pid: None,
        progress: Progress::default(),
    };
    let report = dchat_bench::seed(&app.http, &seed).await.unwrap();
    assert!(report.is_correct() && report.operations > 0, "{}", report.table());
    let routes: Vec<&str> = report.routes.iter().map(|route| route.route.as_str()).collect();
    assert!(routes.contains(&"POST /api/message/append") && routes.contains(&"GET /api/message/list"), "{routes:?}");
    assert!(report.routes.iter().all(|route| route.requests > 0 && route.errors == 0), "{}", report.table());
    drop(held);
    app.stop().await;
}

in_both_topologies!(the_bench_scenarios_run_and_count_nothing_lost_doubled_or_reordered);

#[tokio::test]
async fn the_baselines_run_and_the_sweep_draws_a_chart() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    tokio::spawn(dchat_bench::serve_bare(listener, shutdown.clone()));
    let bare = dchat_bench::fanout_bare(&url, &fanout_options("bare")).await.unwrap();
    assert!(bare.is_correct() && bare.operations > 0, "{}", bare.table());
    shutdown.cancel();

    let sqlite = dchat_bench::sqlite_insert_baseline(Duration::from_millis(300)).await.unwrap();
    assert!(sqlite.operations >= 1024, "{}", sqlite.table());

    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("latency.svg");
    let median = dchat_bench::median(&[bare.clone(), bare.clone(), sqlite]).unwrap();
    dchat_bench::latency_chart(&[bare.clone(), median], &[bare], "smoke", &chart).unwrap();
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("dchat p99") && svg.contains("bare broadcast p99"));
}

/// The web app scenario end to end in headless Chromium: every measured message timed by
/// the page, and the page's list bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webapp_scenario_times_every_measured_message_in_a_real_browser() {
    if !crate::browser::browser_available("the_webapp_scenario_times_every_measured_message_in_a_real_browser") {
        return;
    }
    let (app, _dir) = crate::support::spawn_app().await;
    let options = dchat_bench::WebappOptions {
        messages: 250,
        measured: 3,
        room: None,
        chromium: "/usr/bin/chromium".into(),
        chromedriver: "/usr/bin/chromedriver".into(),
        run_id: "smoke".to_owned(),
    };
    let report = dchat_bench::webapp(&app.http, &options).await.unwrap();
    assert!(report.is_correct(), "{}", report.table());
    assert_eq!(report.operations, 3, "{}", report.table());
    let rows = report.parameters["rows_in_dom"].as_u64().unwrap();
    assert!(rows <= 200, "{rows} rows in the DOM for 254 messages");
    app.stop().await;
}
