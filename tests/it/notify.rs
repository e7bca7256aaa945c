//! Every committed change is announced on PostgreSQL channel `queuecast`, after commit.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::spawn_app;
use futures_util::future::join_all;
use queuecast::domain::Notification;
use serde_json::json;
use sqlx::postgres::PgListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_committed_event_is_notified_inline_or_as_a_range() {
    let app = spawn_app().await;
    let mut listener = PgListener::connect(&app.db_url).await.unwrap();
    listener.listen("queuecast").await.unwrap();

    // A lone join (small batch: the events themselves), then a crowd (ranges when large).
    app.joined(app.queue).await;
    join_all((0..300).map(|i| app.join(app.queue, json!({"name": format!("someone with a long name {i}")})))).await;
    app.call_next(&app.admin, app.queue, "1").await.expect(200);

    let mut seen = BTreeSet::new();
    let mut inline = 0;
    while seen.len() < 302 {
        let n = tokio::time::timeout(Duration::from_secs(10), listener.recv()).await.expect("a notification").unwrap();
        assert!(n.payload().len() < 8000);
        match serde_json::from_str::<Notification>(n.payload()).unwrap() {
            Notification::Events(events) => {
                for e in events {
                    assert_eq!(e.queue_id, app.queue);
                    assert!(e.ticket.is_some());
                    assert!(seen.insert(e.seq), "seq {} announced twice", e.seq);
                    inline += 1;
                }
            }
            Notification::Heartbeat(_) | Notification::Revoked(_) => {}
            Notification::Ranges(ranges) => {
                for r in ranges {
                    assert_eq!(r.0, app.queue);
                    for seq in r.1..=r.2 {
                        assert!(seen.insert(seq), "seq {seq} announced twice");
                    }
                }
            }
        }
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), (1..=302).collect::<Vec<i64>>());
    assert!(inline >= 2, "small batches carry their events");
    // Refused changes announce nothing.
    app.call_next(&app.admin, uuid::Uuid::new_v4(), "1").await.expect_problem(404, "not_found");
    let quiet = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            let n = listener.recv().await.unwrap();
            if !matches!(serde_json::from_str(n.payload()), Ok(Notification::Heartbeat(_))) {
                return n;
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "nothing more was committed: {quiet:?}");
}
