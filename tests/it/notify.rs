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

/// Changes of several tenants committed in one batch: each tenant's events are announced (the
/// batch's NOTIFY goes with its last tenant's statement) and each queue's counters are stored
/// (with each tenant's events).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_several_tenants_announces_and_counts_each_ones_changes() {
    use sqlx::{Connection, PgConnection};

    let app = spawn_app().await;
    let tenants = [app.new_tenant("notify-b").await, app.new_tenant("notify-c").await];
    for (_, queue) in &tenants {
        app.joined(*queue).await;
        app.joined(*queue).await;
    }
    let mut listener = PgListener::connect(&app.db_url).await.unwrap();
    listener.listen("queuecast").await.unwrap();

    // The writer's next batch waits for this lock on the first tenant's queue; the other two
    // tenants' changes, sent meanwhile, wait for the batch after it, together.
    let mut holder = PgConnection::connect(&app.db_url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT 1 FROM queues WHERE id = $1 FOR UPDATE").bind(app.queue).execute(&mut holder).await.unwrap();
    let held = app.join(app.queue, json!({}));
    let together = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let calls = tenants.iter().map(|(token, queue)| app.call_next(token, *queue, "1"));
        let joins = tenants.iter().map(|(_, queue)| app.join(*queue, json!({})));
        let (calls, joins) = tokio::join!(join_all(calls), join_all(joins));
        calls.into_iter().chain(joins).map(|r| r.status.as_u16()).collect::<Vec<_>>()
    };
    let release = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    };
    let (held, statuses, ()) = tokio::join!(held, together, release);
    held.expect(201);
    assert_eq!(statuses, [200, 200, 201, 201]);

    // Each of their queues: joined twice before, then a call and a join: seqs 3 and 4.
    let mut seen: BTreeSet<(uuid::Uuid, i64)> = BTreeSet::new();
    let wanted: BTreeSet<(uuid::Uuid, i64)> =
        tenants.iter().flat_map(|(_, queue)| [(*queue, 3), (*queue, 4)]).collect();
    // Heartbeats keep the channel busy: the deadline is for the whole wait.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !wanted.is_subset(&seen) {
        let n = tokio::time::timeout_at(deadline, listener.recv())
            .await
            .unwrap_or_else(|_| panic!("announced {seen:?} of {wanted:?}"))
            .unwrap();
        match serde_json::from_str::<Notification>(n.payload()).unwrap() {
            Notification::Events(events) => seen.extend(events.iter().map(|e| (e.queue_id, e.seq))),
            Notification::Ranges(ranges) => seen.extend(ranges.iter().flat_map(|r| (r.1..=r.2).map(|s| (r.0, s)))),
            Notification::Heartbeat(_) | Notification::Revoked(_) => {}
        }
    }
    let mut db = PgConnection::connect(&app.db_url).await.unwrap();
    for (_, queue) in &tenants {
        let (last_seq, waiting): (i64, i32) = sqlx::query_as("SELECT last_seq, waiting FROM queues WHERE id = $1")
            .bind(queue)
            .fetch_one(&mut db)
            .await
            .unwrap();
        assert_eq!((last_seq, waiting), (4, 2), "queue {queue}: three joined, one called");
    }
}
