//! How long "how many are ahead of this ticket" takes in lines of 1,000 to 100,000, against the
//! linear count a plain list would need. `cargo bench --bench line`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use queuecast::domain::{Key, Line};
use uuid::Uuid;

/// `n` in line, every fiftieth with priority.
fn line_of(n: u128) -> Line {
    let mut line = Line::new();
    for i in 0..n {
        line.insert(Key::new(if i % 50 == 0 { 1 } else { 0 }, i as i64), Uuid::from_u128(i));
    }
    line
}

fn positions(c: &mut Criterion) {
    let mut group = c.benchmark_group("line");
    for n in [1_000u128, 10_000, 100_000] {
        let line = line_of(n);
        let middle = Key::new(0, n as i64 / 2 + 1);
        group.bench_with_input(BenchmarkId::new("position", n), &n, |b, _| b.iter(|| line.position(black_box(middle))));

        // No priorities here: the head is always the oldest join.
        let mut line = Line::new();
        for i in 0..n {
            line.insert(Key::new(0, i as i64), Uuid::from_u128(i));
        }
        let (mut head, mut seq) = (0, n as i64);
        group.bench_with_input(BenchmarkId::new("join_then_call", n), &n, |b, _| {
            b.iter(|| {
                seq += 1;
                line.insert(Key::new(0, seq), Uuid::from_u128(seq as u128));
                line.remove(black_box(Key::new(0, head)));
                head += 1;
            })
        });

        // What a position costs without the tree: scan the list for the ticket.
        let list: Vec<Uuid> = (0..n).map(Uuid::from_u128).collect();
        let middle = Uuid::from_u128(n / 2 + 1);
        group.bench_with_input(BenchmarkId::new("linear_scan", n), &n, |b, _| {
            b.iter(|| list.iter().position(|t| *t == black_box(middle)))
        });
    }
    group.finish();
}

criterion_group!(benches, positions);
criterion_main!(benches);
