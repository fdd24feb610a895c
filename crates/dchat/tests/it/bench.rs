//! Smoke runs of every `dchat bench` scenario: seconds long, correctness counters
//! asserted, no speed asserted (speed is for BENCHMARKS.md, not for tests).

use std::time::Duration;

use dchat_bench::{FanoutOptions, IngestOptions, Transport};

use crate::support::{Topology, in_both_topologies, spawn};

async fn the_bench_scenarios_run_and_count_nothing_lost_doubled_or_reordered(topology: Topology) {
    let (app, _dir) = spawn(topology).await;
    let fanout = FanoutOptions {
        rooms: 2,
        members: 3,
        senders: 2,
        rate_per_sec: 200.0,
        duration: Duration::from_millis(1500),
        run_id: "smoke".to_owned(),
    };
    let report = dchat_bench::fanout(&app.http, &fanout).await.unwrap();
    assert!(report.is_correct(), "{}", report.table());
    assert!(report.operations > 0 && report.latency.samples == report.operations, "{}", report.table());

    for (transport, run_id) in [(Transport::WebSocket, "ws"), (Transport::Rest, "rest")] {
        let ingest = IngestOptions {
            connections: 3,
            window: 8,
            duration: Duration::from_millis(800),
            transport,
            run_id: run_id.to_owned(),
        };
        let report = dchat_bench::ingest(&app.http, &ingest).await.unwrap();
        assert!(report.is_correct() && report.operations > 0, "{}", report.table());
    }
    let baseline = dchat_bench::sqlite_insert_baseline(Duration::from_millis(300)).await.unwrap();
    assert!(baseline.operations >= 1024, "{}", baseline.table());
    app.stop().await;
}

in_both_topologies!(the_bench_scenarios_run_and_count_nothing_lost_doubled_or_reordered);
